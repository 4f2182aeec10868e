from __future__ import annotations

import pytest

from cardiolora.data.leakage import LeakGuard
from cardiolora.data.negatives import _ConceptIndex, mine_bm25, mine_embedding
from cardiolora.data.records import PairRecord, load_pairs, write_pairs
from cardiolora.data.splits import split_pairs
from cardiolora.errors import CardioloraError, InputError


def test_jsonl_and_csv_pairs_round_trip(tmp_path):
    csv_file = tmp_path / "mine.csv"
    csv_file.write_text('anchor,positive,negative\nMitral stenosis,"Narrowed mitral valve, rheumatic",\n'
                        "Atrial flutter,Sawtooth flutter waves,Pericarditis\n")  # fmt: skip
    pairs = load_pairs(csv_file)
    assert pairs[0] == PairRecord("Mitral stenosis", "Narrowed mitral valve, rheumatic", None, "user")
    assert pairs[1].negative == "Pericarditis"
    out = tmp_path / "out.jsonl"
    assert write_pairs(out, pairs) == 2
    assert load_pairs(out) == pairs


@pytest.mark.parametrize(
    ("name", "content", "line", "field"),
    [
        ("a.csv", "anchor,text\nx,y\n", 1, "positive"),
        ("b.csv", "anchor,positive\nx,   \n", 2, "positive"),
        ("c.jsonl", '{"anchor": "x", "positive": "y"}\n{"anchor": "x"}\n', 2, "positive"),
        ("d.jsonl", '{"anchor": "", "positive": "y"}\n', 1, "anchor"),
        ("e.jsonl", '{"anchor": "x", "positive": "y"}\n{oops\n', 2, None),
        ("f.jsonl", '{"anchor": "x", "positive": 5}\n', 1, "positive"),
    ],
)
def test_bad_pair_files_name_file_line_and_field(tmp_path, name, content, line, field):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InputError) as info:
        load_pairs(path)
    assert (info.value.path, info.value.line, info.value.field) == (str(path), line, field)


def test_empty_and_missing_pair_files(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(InputError, match="empty"):
        load_pairs(tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="file not found"):
        load_pairs(tmp_path / "none.jsonl")


def test_leak_guard_catches_exact_and_near_duplicates():
    guard = LeakGuard()
    guard.add(["Severe aortic stenosis with a mean gradient of 45 mmHg"])
    assert guard.leaks("severe aortic stenosis with a mean gradient of 45 mmHg.")
    assert guard.leaks("Severe aortic stenosis with mean gradient of 45 mmHg")  # a word dropped
    assert not guard.leaks("Severe mitral regurgitation with a flail posterior leaflet")
    pairs = [PairRecord("a b c d", "Severe aortic stenosis with a mean gradient of 45 mmHg"), PairRecord("x y", "z w")]
    kept, removed = guard.filter(pairs)
    assert removed == 1 and kept == [pairs[1]]


def _pairs(n: int) -> list[PairRecord]:
    return [PairRecord(f"anchor {i}", f"positive {i}", group=f"concept-{i // 3}") for i in range(n)]


def test_splits_are_seeded_and_keep_groups_together():
    pairs = _pairs(3000)
    first = split_pairs(pairs, validation=0.1, test=0.1, seed=1)
    assert first == split_pairs(pairs, validation=0.1, test=0.1, seed=1)
    assert first != split_pairs(pairs, validation=0.1, test=0.1, seed=2)
    assert sum(len(v) for v in first.values()) == 3000
    for name in ("validation", "test"):
        assert 0.06 < len(first[name]) / 3000 < 0.14
    groups = {name: {p.group for p in part} for name, part in first.items()}
    assert not groups["train"] & groups["validation"] and not groups["train"] & groups["test"]
    with pytest.raises(CardioloraError):
        split_pairs(pairs, validation=0.6, test=0.5)


def test_bm25_negatives_are_close_but_not_the_positive():
    pairs = [
        PairRecord("aortic valve stenosis", "narrowed aortic valve"),
        PairRecord("aortic dissection", "tear in the aortic wall"),
        PairRecord("atrial fibrillation", "irregularly irregular rhythm"),
        PairRecord("pericardial effusion", "fluid around the heart"),
    ]
    mined = mine_bm25(pairs)
    assert mined[0].negative == "tear in the aortic wall"
    for pair in mined:
        assert pair.negative and pair.negative != pair.positive


def test_embedding_negatives_respect_the_band(tiny_model_dir):
    pairs = [PairRecord(f"heart {w} pain", f"chest {w} murmur") for w in
             ("mitral", "aortic", "valve", "atrial", "cardiac", "troponin", "syncope", "edema")]  # fmt: skip
    mined = mine_embedding(pairs, str(tiny_model_dir("bert")), max_score=1.0, relative_margin=0.0)
    assert all(p.negative and p.negative != p.positive for p in mined)
    none_pass = mine_embedding(pairs, str(tiny_model_dir("bert")), max_score=-1.0)
    assert all(p.negative is None for p in none_pass)


def test_embedding_mining_keeps_other_relations_negatives(tiny_model_dir):
    words = ("mitral", "aortic", "valve", "atrial", "cardiac", "troponin", "syncope", "edema")
    pairs = [PairRecord(f"heart {w} pain", f"chest {w} murmur", "kept", relation="sibling" if i % 2 else "negation")
             for i, w in enumerate(words)]  # fmt: skip
    mined = mine_embedding(pairs, str(tiny_model_dir("bert")), overwrite=True, relations={"sibling"},
                           max_score=1.0, relative_margin=0.0)  # fmt: skip
    assert [p.negative for p in mined if p.relation == "negation"] == ["kept"] * 4
    assert all(p.negative != "kept" for p in mined if p.relation == "sibling")


def test_concept_filter_rejects_the_same_concept_and_its_known_relatives():
    pairs = [
        PairRecord("Known aortic medial fibrosis.", "Aortic medial scarring", relation="synonym", group="hp:1"),
        PairRecord("Translamellar aortic medial fibrosis", "Aortic medial fibrosis", relation="parent", group="hp:2"),
        PairRecord(
            "Translamellar aortic medial fibrosis",
            "Intralamellar aortic medial fibrosis",
            relation="sibling",
            group="hp:2",
        ),  # fmt: skip
        PairRecord("Mitral stenosis", "Narrowed mitral valve", relation="synonym", group="hp:3"),
    ]
    same = _ConceptIndex(pairs)
    # the parent named through a template is the positive itself
    assert same("Aortic medial fibrosis confirmed.", "Translamellar aortic medial fibrosis",
                "Aortic medial fibrosis", "hp:2")  # fmt: skip
    # a synonym of the positive's concept
    assert same("Aortic medial scarring", "Translamellar aortic medial fibrosis", "Aortic medial fibrosis", "hp:2")
    # another positive of the anchor's concept (its sibling) is not a negative of its parent pair
    assert same("Intralamellar aortic medial fibrosis", "Translamellar aortic medial fibrosis",
                "Aortic medial fibrosis", "hp:2")  # fmt: skip
    # an unrelated concept is a fair negative
    assert not same("Narrowed mitral valve", "Translamellar aortic medial fibrosis", "Aortic medial fibrosis", "hp:2")


# ------------------------------------------------------------------ issue 13


@pytest.mark.parametrize(
    ("held_out", "variant"),
    [
        ("first-degree atrioventricular block", "First degree atrioventricular block"),
        ("left bundle branch block", "Left bundle-branch block"),
        ("left bundle branch block", "Left bundlebranch block."),
        ("Crohn's disease", "Crohns disease"),
        ("Crohn\u2019s disease", "crohn's  disease"),
        ("ST-elevation myocardial infarction", "ST elevation myocardial infarction"),
        ("Heart failure, NYHA class III", "heart failure (NYHA class III)"),
        ("aortic/mitral valve disease", "Aortic mitral valve disease"),
        (
            "Non-ST-elevation myocardial infarction with troponin rise",
            "non ST elevation myocardial infarction with a troponin rise",
        ),
    ],
)
def test_leak_guard_catches_punctuation_and_hyphen_variants(held_out, variant):
    guard = LeakGuard()
    guard.add([held_out])
    assert guard.leaks(variant)


def test_guard_key_is_the_guards_alone():
    from cardiolora.data.text import guard_key, normalize_for_match, text_hash

    assert guard_key("First-degree A/V block,") == guard_key("first degree a v block") == "first degree a v block"
    assert guard_key("Crohn's") == "crohns"
    # Deduplication and split hashing keep their key: a hyphen or a decimal point still tells texts apart.
    assert normalize_for_match("First-degree AV block") != normalize_for_match("First degree AV block")
    assert text_hash("QRS of 1.5 mm") != text_hash("QRS of 15 mm")
    guard = LeakGuard()
    guard.add(["Severe mitral regurgitation"])
    assert not guard.leaks("Severe tricuspid regurgitation") and not guard.leaks("---")


def test_csv_lines_end_as_spreadsheets_end_them(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b'anchor,positive\r"Mitral\rstenosis",Narrowed valve\rAtrial flutter,Sawtooth waves\r')
    pairs = load_pairs(path)
    assert [p.anchor for p in pairs] == ["Mitral\rstenosis", "Atrial flutter"]
    crlf = tmp_path / "excel.csv"
    crlf.write_bytes(b'\xef\xbb\xbfanchor,positive,negative\r\n"a, b",c d,\r\n\r\ne f,"g\r\nh",i\r\n')
    pairs = load_pairs(crlf)
    assert [(p.anchor, p.positive, p.negative) for p in pairs] == [("a, b", "c d", None), ("e f", "g\r\nh", "i")]


@pytest.mark.parametrize(
    ("content", "line", "fragment"),
    [
        (b"anchor,positive\nok a,ok b\nCaf\xe9,x\n", 3, "not UTF-8"),
        (b"anchor,positive\n" + b"a," + b"y" * 200_000 + b"\n", 2, "field larger than field limit"),
        (b"\xff\xfeanchor,positive\n", 1, "not UTF-8"),  # UTF-16, as old Excel saved "Unicode text"
    ],
)
def test_unreadable_csv_names_file_and_line(tmp_path, content, line, fragment):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=fragment) as info:
        load_pairs(path)
    assert (info.value.path, info.value.line) == (str(path), line)


def test_write_splits_is_all_or_nothing(tmp_path, monkeypatch):
    from cardiolora.data import build
    from cardiolora.data.splits import write_splits

    parts = {"train": _pairs(6), "validation": [], "test": [PairRecord("test anchor 1", "test positive 1")]}
    real = build.finish_dataset

    def fail_on_test(pairs, out, **kwargs):
        if kwargs["name"] == "test":
            raise OSError(28, "No space left on device")
        return real(pairs, out, **kwargs)

    monkeypatch.setattr(build, "finish_dataset", fail_on_test)
    with pytest.raises(OSError):
        write_splits(parts, tmp_path / "splits", settings={})
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(build, "finish_dataset", real)
    results = write_splits(parts, tmp_path / "splits", settings={"seed": 0})
    assert set(results) == {"train", "test"}
    assert results["train"].path == tmp_path / "splits" / "train.jsonl" and results["train"].path.exists()
    assert load_pairs(results["test"].path) == parts["test"]
    with pytest.raises(CardioloraError, match="not empty"):
        write_splits(parts, tmp_path / "splits", settings={})
