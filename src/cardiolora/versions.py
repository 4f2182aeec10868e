"""The package versions saved beside every result, so a number can be traced to the code behind it."""

from __future__ import annotations

import platform
import sys
from importlib import metadata

TRACKED_PACKAGES = (
    "cardiolora",
    "torch",
    "transformers",
    "sentence-transformers",
    "peft",
    "tokenizers",
    "numpy",
    "scipy",
    "scikit-learn",
    "gguf",
)


def package_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of the packages that decide a result, plus Python and the platform."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in (*TRACKED_PACKAGES, *extra):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
