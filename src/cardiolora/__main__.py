"""``python -m cardiolora`` is the ``cardiolora`` command."""

from cardiolora.cli import app

app(prog_name="cardiolora")
