"""How the teacher-only texts are laid out in the training dataset."""

from __future__ import annotations

from collections import Counter

from cardiolora.training.dataset import length_matched


def test_length_matched_gives_the_longest_text_to_the_longest_row_and_keeps_every_text():
    texts = ["a" * 50, "b" * 5, "c" * 20, "d" * 5]
    rows = [30, 2, 90, 10]
    matched = length_matched(texts, rows)
    assert Counter(matched) == Counter(texts)
    assert matched[2] == "a" * 50 and matched[0] == "c" * 20  # longest row, longest text; then the next
    assert {matched[1], matched[3]} == {"b" * 5, "d" * 5}


def test_length_matched_is_stable_for_equal_lengths():
    # Ties keep the given (seeded, shuffled) order, so a run's dataset is reproducible.
    assert length_matched(["x1", "x2", "x3"], [1, 1, 1]) == ["x1", "x2", "x3"]
