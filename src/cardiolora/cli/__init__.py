"""The ``cardiolora`` command line. Each module registers its commands on :data:`app`."""

from cardiolora.cli import bench as _bench
from cardiolora.cli import data as _data
from cardiolora.cli import main as _main
from cardiolora.cli import search as _search
from cardiolora.cli import serve as _serve
from cardiolora.cli import study as _study
from cardiolora.cli import train as _train
from cardiolora.cli.common import app

__all__ = ["app"]
