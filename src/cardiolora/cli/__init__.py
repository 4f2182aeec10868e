"""The ``cardiolora`` command line. Each module registers its commands on :data:`app`."""

from cardiolora.cli import bench as _bench  # noqa: F401  (registers `cardiolora bench`)
from cardiolora.cli import data as _data  # noqa: F401  (registers `cardiolora data ...`)
from cardiolora.cli import main as _main  # noqa: F401  (registers models, embed, evaluate)
from cardiolora.cli import search as _search  # noqa: F401  (registers index, search, evaluate-retrieval)
from cardiolora.cli import serve as _serve  # noqa: F401  (registers serve)
from cardiolora.cli import study as _study  # noqa: F401  (registers study, report)
from cardiolora.cli import train as _train  # noqa: F401  (registers train, export)
from cardiolora.cli.common import app

__all__ = ["app"]
