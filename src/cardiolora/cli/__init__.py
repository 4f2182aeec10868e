"""The ``cardiolora`` command line. Each module registers its commands on :data:`app`."""

# Imported for their side effect: importing a module registers its commands on ``app``.
from cardiolora.cli import bench as _bench  # noqa: F401 (registers commands)
from cardiolora.cli import data as _data  # noqa: F401 (registers commands)
from cardiolora.cli import export as _export  # noqa: F401 (registers commands)
from cardiolora.cli import main as _main  # noqa: F401 (registers commands)
from cardiolora.cli import search as _search  # noqa: F401 (registers commands)
from cardiolora.cli import serve as _serve  # noqa: F401 (registers commands)
from cardiolora.cli import study as _study  # noqa: F401 (registers commands)
from cardiolora.cli import train as _train  # noqa: F401 (registers commands)
from cardiolora.cli.common import app

__all__ = ["app"]
