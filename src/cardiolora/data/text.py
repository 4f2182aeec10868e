"""Text normalization shared by deduplication, the leak guard and ontology cleaning."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")
_NOS = re.compile(r",?\s+\bNOS\b")
_PAREN = re.compile(r"\s*\(([^()]*)\)")
_BRACKET = re.compile(r"\s*\[[^\[\]]*\]")


def normalize_for_match(text: str) -> str:
    """The form two texts share when they say the same thing: NFKC, case-folded, single-spaced,
    without punctuation at the ends ("Mitral stenosis." == "mitral  stenosis")."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _SPACE.sub(" ", text).strip()
    return _EDGE_PUNCT.sub("", text)


_APOSTROPHE = re.compile(r"['\u2019\u02bc`\u00b4]")
_INNER_PUNCT = re.compile(r"[\W_]+")


def guard_key(text: str) -> str:
    """The leak guard's form of a text: :func:`normalize_for_match`, apostrophes dropped and every
    other run of punctuation or spacing one space ("First-degree A-V block," ==
    "first degree a/v block"; "Crohn's disease" == "Crohns disease").

    Only the leak guard folds this far. Deduplication and split assignment keep
    :func:`normalize_for_match`: there a false match loses or moves data (and changing it would move
    existing pairs between splits), and "1.5 mm" must stay apart from "15 mm"; for the guard a false
    match only drops one training pair, while a missed variant leaks an evaluation text.
    """
    text = _APOSTROPHE.sub("", normalize_for_match(text))
    return _INNER_PUNCT.sub(" ", text).strip()


def text_hash(text: str) -> bytes:
    """An 8-byte digest of the normalized text: exact-duplicate sets stay small for millions of texts."""
    return hashlib.blake2b(normalize_for_match(text).encode(), digest_size=8).digest()


def clean_term(text: str) -> str:
    """An ontology label as a clinician would write it.

    ICD-10-CM titles carry coding conventions: "NOS", optional words in parentheses
    ("Nonrheumatic mitral (valve) insufficiency"), bracketed abbreviations ("[HFrEF]").
    """
    text = _NOS.sub("", text)
    text = _BRACKET.sub("", text)
    text = _PAREN.sub(lambda m: " " + m.group(1), text)
    return _SPACE.sub(" ", text).strip(" ,;")


def as_clause(term: str) -> str:
    """A term to place mid-sentence: lower-case its first letter unless it starts an acronym."""
    first = term.split(" ", 1)[0]
    if len(first) > 1 and (first.isupper() or any(c.isdigit() for c in first) or first[1:].lower() != first[1:]):
        return term
    return term[:1].lower() + term[1:]


def as_sentence_start(text: str) -> str:
    return text[:1].upper() + text[1:]
