"""Property-based fuzzing of every reader of user files: whatever the bytes, the result is clean
data or a CardioloraError (one line at the command line, exit 2), never another exception.

Bounded (100 examples a reader, no example database) so the default suite stays fast.
"""

from __future__ import annotations

import codecs
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cardiolora.data.corpus import CorpusSettings, build_corpus
from cardiolora.data.records import read_pairs
from cardiolora.errors import CardioloraError
from cardiolora.evaluation import load_eval_set
from cardiolora.training.config import load_toml

FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Valid files to start from: mutations of them reach deeper than random bytes do.
SAMPLES = {
    "jsonl": [
        (
            b'{"anchor": "Mitral stenosis", "positive": "Narrowed mitral valve", "negative": "Atrial flutter"}\n'
            b'{"anchor": "Aortic stenosis", "positive": "Narrowed aortic valve", "group": "g1", '
            b'"category": "valvular"}\n'
        ),
        (
            b'{"sentence1": "Mitral stenosis", "sentence2": "Aortic stenosis", "category": "similar", '
            b'"domain": "valvular"}\n'
            b'{"sentence1": "No effusion", "sentence2": "Effusion", "category": "negation"}\n'
        ),
        (
            b'{"anchor": "caf\\u00e9 \\ud83e\\udec0", "positive": "[/] [bold]x", "sentence1": "a", "sentence2": "b", '
            b'"category": "paraphrase"}\n'
        ),
    ],
    "csv": [
        (
            b'anchor,positive,negative\nMitral stenosis,"Narrowed mitral valve, rheumatic",\n'
            b"Atrial flutter,Sawtooth waves,Pericarditis\n"
        ),
        b'\xef\xbb\xbfanchor,positive\r\n"multi\r\nline",b c\r\n',
    ],
    "toml": [
        (
            b'model = "minilm"\ndata = "data/x.jsonl"\neval_sets = ["cardiology"]\n[peft]\nmethod = "lora"\nr = 8\n'
            b'[loss]\nname = "infonce+cosine"\ntemperature = 0.3\n'
        ),
    ],
    "txt": [
        (
            b"The patient was seen by Dr. Patel for dyspnea, e.g. on exertion. An echo was ordered.\n\n"
            b"Figure 3: Parasternal view.\n\nReferences\n\nSmith J. Trials. 2020.\n"
        ),
    ],
    "md": [
        (
            b"# Valve disease\n\n![echo](echo.png)\n\nAortic stenosis narrows the valve. It causes *syncope*.\n\n"
            b"- Mitral regurgitation causes a murmur at the apex.\n\n```\ncode()\n```\n\n<div>html</div>\n"
        ),
    ],
}
SPICE = [
    codecs.BOM_UTF8,
    b"\xff",
    b"\xc3",
    b"\x00",
    b"\r",
    b"\n",
    b"[",
    b"{",
    b'"',
    b",",
    b"\\ud800",
    b"\\",
    b"\xe2\x80\xa8",
]


@st.composite
def file_bytes(draw, kind: str) -> bytes:
    """Random bytes, random text, or a valid sample with bytes inserted, replaced or cut."""
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=600))
    if choice == 1:
        return draw(st.text(max_size=300)).encode("utf-8")
    data = bytearray(draw(st.sampled_from(SAMPLES[kind])))
    for _ in range(draw(st.integers(1, 6))):
        position = draw(st.integers(0, len(data)))
        piece = draw(st.one_of(st.sampled_from(SPICE), st.binary(min_size=1, max_size=6)))
        if draw(st.booleans()):
            data[position:position] = piece * draw(st.integers(1, 3))
        else:
            data[position : position + len(piece)] = piece
    if choice == 3:
        data = data[: draw(st.integers(0, len(data)))]
    return bytes(data)


def _is_text(value) -> bool:
    return isinstance(value, str) and value.strip() != "" and bool(value.encode("utf-8"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
def test_pair_readers(workdir, kind):
    path = workdir / f"pairs.{kind}"

    @FUZZ
    @given(file_bytes(kind))
    def check(data):
        path.write_bytes(data)
        try:
            pairs = list(read_pairs(path))
        except CardioloraError:
            return
        for pair in pairs:
            assert _is_text(pair.anchor) and _is_text(pair.positive)
            assert pair.negative is None or _is_text(pair.negative)
            json.loads(pair.to_json())  # what write_pairs writes, it can write

    check()


def test_eval_set_reader(workdir):
    path = workdir / "set.jsonl"

    @FUZZ
    @given(file_bytes("jsonl"))
    def check(data):
        path.write_bytes(data)
        try:
            loaded = load_eval_set(path)
        except CardioloraError:
            return
        assert loaded.pairs and all(_is_text(p.sentence1) and _is_text(p.sentence2) for p in loaded.pairs)

    check()


def test_toml_reader(workdir):
    path = workdir / "train.toml"

    @FUZZ
    @given(file_bytes("toml"))
    def check(data):
        path.write_bytes(data)
        try:
            assert isinstance(load_toml(path), dict)
        except CardioloraError:
            return

    check()


@pytest.mark.parametrize("kind", ["txt", "md"])
def test_corpus_readers(workdir, kind):
    source = workdir / f"notes.{kind}"
    out = workdir / "corpus.jsonl"

    @FUZZ
    @given(file_bytes(kind))
    def check(data):
        source.write_bytes(data)
        out.unlink(missing_ok=True)
        try:
            build_corpus([source], out, CorpusSettings(min_words=1))
        except CardioloraError:
            assert not out.exists()
            return
        records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        # Sentences are text: non-empty, valid Unicode, no byte-order mark (leading or joined in).
        assert records and all(_is_text(r["text"]) and "\ufeff" not in r["text"] for r in records)

    check()
