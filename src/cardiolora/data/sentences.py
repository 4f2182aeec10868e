"""Sentences from text in time linear in its length (pysbd on bounded pieces), and near-duplicate
detection over them (MinHash LSH): the two hand-tuned pieces of :mod:`cardiolora.data.corpus`."""

from __future__ import annotations

import re

from cardiolora.data.leakage import char_shingles

# -------------------------------------------------------------------------------------- splitting


# pysbd's time grows with the square of the text it is given (an 80,000-character paragraph took
# 6.8 s, a 1 MB one many minutes) but is close to linear up to a few thousand characters, so longer
# paragraphs are cut into pieces of at most this many characters first.
MAX_PIECE_CHARS = 1000
# A likely sentence end to cut at: a word of two lower-case letters or digits ("Dr." and "e.g." do
# not qualify), end punctuation, closing quotes or brackets, space, then a capital or a digit.
_SENTENCE_END = re.compile(r"[a-z\d]{2}[.!?][\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]?[A-Z\d])")
_SPACE_RUN = re.compile(r"\s+")


def bounded_pieces(text: str, limit: int = MAX_PIECE_CHARS) -> list[str]:
    """``text`` cut into pieces of at most ``limit`` characters, each cut as late as possible in
    the second half of its window: at a line break, else a likely sentence end, else a space, else
    (a run without spaces) hard. Joined, the pieces are ``text``."""
    pieces, start = [], 0
    while len(text) - start > limit:
        floor, end = start + limit // 2, start + limit
        cut = text.rfind("\n", floor, end) + 1
        if not cut:
            cut = next((m.end() for m in reversed(list(_SENTENCE_END.finditer(text, floor, end)))), 0)
        if not cut:
            cut = next((m.end() for m in reversed(list(_SPACE_RUN.finditer(text, floor, end)))), 0)
        cut = cut or end
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


class SentenceSplitter:
    """Sentences by pysbd (which knows "e.g." and "Dr."), in time linear in the text's length."""

    def __init__(self, max_piece_chars: int = MAX_PIECE_CHARS) -> None:
        import re as _re

        import pysbd

        # pysbd builds hundreds of regular expressions per piece; with Python's default cache of
        # 512 compiled patterns it recompiles most of them every time. Still needed with bounded
        # pieces: 400 paragraphs of 200-900 characters split in 0.96 s with the default cache,
        # 0.63 s with this one; a 1 MB paragraph in 6.0 s against 3.6 s.
        _re._MAXCACHE = max(_re._MAXCACHE, 8192)

        self.max_piece_chars = max_piece_chars
        self._segmenter = pysbd.Segmenter(language="en", clean=False)

    def split(self, text: str) -> list[str]:
        sentences = []
        for piece in bounded_pieces(text, self.max_piece_chars):
            sentences.extend(s.strip() for s in self._segmenter.segment(piece) if s.strip())
        return sentences


# ---------------------------------------------------------------------------------------- dedup


class NearDuplicateIndex:
    """MinHash LSH over character 4-grams of normalized text: ``seen_similar(text)`` tells whether a
    near duplicate was seen, else remembers the text.

    Character 4-grams at Jaccard 0.75 catch a swapped word, a typo or an inserted word in a
    sentence of ten or more words, and keep apart sentences that differ in a clinical term
    ("left" / "right ventricle", "atrial fibrillation" / "atrial flutter"). The LSH bands are tuned
    for recall; each candidate is then confirmed by the Jaccard estimate of the stored signatures
    (4 bytes a permutation, never the text).
    """

    def __init__(self, threshold: float = 0.75, num_perm: int = 64) -> None:
        import numpy as np
        from datasketch import MinHashLSH

        self.threshold = threshold
        self.num_perm = num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(0.2, 0.8))
        self._signatures = np.zeros((1024, num_perm), dtype=np.uint32)
        self._count = 0

    def _minhash(self, text: str):
        from datasketch import MinHash

        minhash = MinHash(num_perm=self.num_perm, seed=1)
        minhash.update_batch(list(char_shingles(text)))
        return minhash

    def seen_similar(self, text: str) -> bool:
        import numpy as np

        minhash = self._minhash(text)
        signature = minhash.hashvalues.astype(np.uint32)
        candidates = self._lsh.query(minhash)
        if candidates:
            agreement = (self._signatures[candidates] == signature).mean(axis=1)
            if agreement.max() >= self.threshold:
                return True
        if self._count == len(self._signatures):
            self._signatures = np.concatenate([self._signatures, np.zeros_like(self._signatures)])
        self._signatures[self._count] = signature
        self._lsh.insert(self._count, minhash, check_duplication=False)
        self._count += 1
        return False
