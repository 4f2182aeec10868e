from __future__ import annotations

import json
import time

import pytest

from cardiolora.data.corpus import CorpusSettings, build_corpus, clean_block, iter_blocks
from cardiolora.data.sentences import MAX_PIECE_CHARS, SentenceSplitter, bounded_pieces
from cardiolora.errors import CardioloraError, InputError

from .pdf import make_pdf


def _read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_sentences_keep_abbreviations_and_their_provenance(tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text(
        "The patient was seen by Dr. Patel for dyspnea, e.g. on exertion. An echocardiogram was ordered today.\n\n"
        "Aortic stenosis was graded as severe by the echo lab.\n"
    )
    out = tmp_path / "corpus.jsonl"
    stats = build_corpus([source], out)
    records = _read(out)
    assert [r["text"] for r in records] == [
        "The patient was seen by Dr. Patel for dyspnea, e.g. on exertion.",
        "An echocardiogram was ordered today.",
        "Aortic stenosis was graded as severe by the echo lab.",
    ]
    assert [(r["paragraph"], r["sentence"]) for r in records] == [(0, 0), (0, 1), (1, 0)]
    assert records[0]["source"] == str(source) and stats.written == 3


def test_cleaning_rules():
    assert clean_block("Hypertrophic cardio-\nmyopathy causes outflow obstruction.") == (
        "Hypertrophic cardiomyopathy causes outflow obstruction."
    )
    assert clean_block("Figure 3.2: Parasternal long-axis view of the heart.") is None
    assert clean_block("Table 4 Drugs used in heart failure and their doses") is None
    assert clean_block("-------- ~~~~~~~ ######") is None
    assert clean_block("12") is None


def test_markdown_html_and_jsonl_readers(tmp_path):
    md = tmp_path / "a.md"
    md.write_text("# Heading\n\nMitral regurgitation causes a pansystolic murmur at the apex.\n\n```\ncode()\n```\n")
    html = tmp_path / "b.html"
    html.write_text(
        "<html><head><script>var x = 1;</script></head><body><nav>Home | About us here</nav>"
        "<p>Pericarditis causes pleuritic chest pain that eases when sitting forward.</p></body></html>"
    )
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text(json.dumps({"id": "note-7", "text": "Atrial flutter often shows sawtooth flutter waves."}) + "\n")
    settings = CorpusSettings()
    assert [b.text for b in iter_blocks(md, settings)] == [
        "Heading", "Mitral regurgitation causes a pansystolic murmur at the apex."
    ]  # fmt: skip
    assert [b.text for b in iter_blocks(html, settings)] == [
        "Pericarditis causes pleuritic chest pain that eases when sitting forward."
    ]
    blocks = list(iter_blocks(jsonl, settings))
    assert blocks[0].source.endswith("c.jsonl#note-7")


def test_pdf_pages_lose_running_headers_footers_and_references(tmp_path):
    topics = ["ventricular tachycardia", "atrial flutter", "heart block", "pericarditis", "endocarditis"]
    pages = []
    for number, topic in enumerate(topics, start=1):
        pages.append([
            "Cardiology Review Journal",
            f"This page discusses {topic} and how clinicians manage it in detail.",
            f"Treatment choices for {topic} depend on symptoms and the underlying cause.",
            f"- {number} -",
        ])  # fmt: skip
    pages[-1] += ["", "References", "Smith J. Ventricular arrhythmia trials and outcomes. Circulation 2020."]
    pdf = tmp_path / "review.pdf"
    pdf.write_bytes(make_pdf(pages))
    out = tmp_path / "corpus.jsonl"
    build_corpus([pdf], out)
    records = _read(out)
    texts = [r["text"] for r in records]
    assert not any("Cardiology Review Journal" in t for t in texts)
    assert not any("Circulation 2020" in t for t in texts)
    assert any("This page discusses heart block" in t for t in texts)
    assert not any(t.strip("- ").isdigit() for t in texts)
    assert {r["page"] for r in records} == {1, 2, 3, 4, 5}


def test_exact_and_near_duplicates_are_removed(tmp_path):
    base = "Beta blockers reduce mortality in patients with heart failure and reduced ejection fraction"
    source = tmp_path / "dups.txt"
    source.write_text(
        f"{base}.\n\n{base.upper()}!\n\n{base.replace('patients', 'people')}.\n\n"
        "Loop diuretics relieve congestion in acute decompensated heart failure.\n"
    )
    out = tmp_path / "corpus.jsonl"
    stats = build_corpus([source], out)
    assert stats.written == 2
    assert stats.removed["exact_duplicate"] == 1 and stats.removed["near_duplicate"] == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "unreadable PDF"),
        ("junk.txt", bytes(range(256)) * 4, "binary"),
        ("latin1.txt", "Caf\xe9 au lait spots".encode("latin-1"), "not UTF-8"),
        ("bad.jsonl", b'{"text": "fine sentence here ok"}\n{"body": 1}\n', "bad.jsonl:2: field 'text'"),
    ],
)
def test_bad_input_fails_cleanly(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    out = tmp_path / "corpus.jsonl"
    with pytest.raises(InputError, match=message):
        build_corpus([path], out)
    assert not out.exists() and not list(tmp_path.glob(".corpus.jsonl*"))


def test_empty_corpus_and_missing_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("ok\n\nno\n")
    out = tmp_path / "corpus.jsonl"
    with pytest.raises(CardioloraError, match="corpus is empty"):
        build_corpus([empty], out)
    assert not out.exists()
    with pytest.raises(InputError, match="file not found"):
        build_corpus([tmp_path / "missing.txt"], out)
    (tmp_path / "x.docx").write_bytes(b"PK")
    with pytest.raises(InputError, match="unsupported file type"):
        build_corpus([tmp_path / "x.docx"], out)


# ------------------------------------------------------------------ issue 13: BOMs, images, long paragraphs


@pytest.mark.parametrize("name", ["notes.txt", "notes.md"])
def test_a_bom_does_not_stick_to_the_first_sentence(tmp_path, name):
    source = tmp_path / name
    heading = "# Aortic valve\n\n" if name.endswith(".md") else ""
    # Two files joined with `cat`, each with its BOM: the second lands mid-text.
    source.write_bytes(("\ufeff" + heading + "Aortic stenosis narrows the valve opening. "
                        "It causes syncope on exertion.\n"
                        "\n\ufeffMitral stenosis follows rheumatic fever.\n").encode())  # fmt: skip
    out = tmp_path / "corpus.jsonl"
    build_corpus([source], out)
    texts = [r["text"] for r in _read(out)]
    assert texts == ["Aortic stenosis narrows the valve opening.", "It causes syncope on exertion.",
                     "Mitral stenosis follows rheumatic fever."]  # fmt: skip
    if name.endswith(".md"):
        assert next(iter_blocks(source, CorpusSettings())).text == "Aortic valve"  # still a heading


def test_markdown_blocks_without_text_are_skipped(tmp_path):
    source = tmp_path / "figures.md"
    source.write_text("![ECG strip](ecg.png)\n\n<div>raw html</div>\n\n![a](a.png) ![b](b.png)\n\n"
                      "Atrial flutter shows sawtooth waves in the inferior leads.\n")  # fmt: skip
    assert [b.text for b in iter_blocks(source, CorpusSettings())] == [
        "Atrial flutter shows sawtooth waves in the inferior leads."
    ]
    only_images = tmp_path / "only.md"
    only_images.write_text("![ECG strip](ecg.png)\n")
    with pytest.raises(CardioloraError, match="corpus is empty"):
        build_corpus([only_images], tmp_path / "corpus.jsonl")
    assert not (tmp_path / "corpus.jsonl").exists()


def test_bounded_pieces_cut_late_and_at_sentence_ends():
    sentences = [f"Finding number {i} was an aortic gradient of {i}.5 m/s on the echo." for i in range(300)]
    text = " ".join(sentences)
    pieces = bounded_pieces(text, limit=500)
    assert "".join(pieces) == text
    assert all(len(p) <= 500 for p in pieces) and all(len(p) > 250 for p in pieces[:-1])
    assert all(p.rstrip().endswith("echo.") for p in pieces[:-1])  # cut at a sentence end
    assert bounded_pieces("x" * 2500, limit=1000) == ["x" * 1000, "x" * 1000, "x" * 500]  # no space: hard cuts
    words = "word " * 500
    assert all(p.endswith(" ") for p in bounded_pieces(words, limit=100)[:-1])  # else at a space
    assert bounded_pieces("line one\nline two " * 100, limit=300)[0].endswith("\n")  # a line break first
    assert bounded_pieces("short", limit=10) == ["short"]


def test_long_paragraphs_are_split_in_bounded_pieces(monkeypatch):
    """pysbd is quadratic in its input: it never sees more than MAX_PIECE_CHARS, and no sentence
    is lost or broken at a cut."""
    sentences = [f"Dr. Patel saw patient {i} with a gradient of {i}.5 m/s, e.g. on exertion." for i in range(2000)]
    splitter = SentenceSplitter()
    lengths = []
    segment = splitter._segmenter.segment
    monkeypatch.setattr(splitter._segmenter, "segment", lambda text: lengths.append(len(text)) or segment(text))
    assert splitter.split(" ".join(sentences)) == sentences
    assert max(lengths) <= MAX_PIECE_CHARS and len(lengths) > 100


def test_a_long_one_paragraph_file_is_read_in_linear_time(tmp_path):
    source = tmp_path / "dump.txt"
    source.write_text("".join(f"Sentence {i} describes a finding in the left ventricle. " for i in range(2500)) * 2)
    assert source.stat().st_size > 250_000
    out = tmp_path / "corpus.jsonl"
    start = time.process_time()  # CPU time: the wall clock says little on a shared machine
    stats = build_corpus([source], out, CorpusSettings(near_duplicates=False))
    # About 1.3 s of CPU; unbounded pysbd, quadratic, needed about a minute for this much text.
    assert time.process_time() - start < 20
    assert stats.written == 2500 and stats.removed["exact_duplicate"] == 2500
