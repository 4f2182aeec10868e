"""``python -m cardiolora.bench.worker``: one benchmark in a fresh process (request JSON on stdin,
result JSON on stdout, progress lines on stderr)."""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    from cardiolora.bench.benchmark import BenchSettings, measure
    from cardiolora.errors import CardioloraError
    from cardiolora.logs import quiet_libraries

    request = json.loads(sys.stdin.read())
    quiet = bool(os.environ.get("CARDIOLORA_BENCH_QUIET"))
    quiet_libraries()
    try:
        settings = BenchSettings(**request["settings"])
        result = measure(
            request["model"],
            request["adapter"],
            settings,
            progress=None if quiet else (lambda m: print(f"bench: {m}", file=sys.stderr, flush=True)),
        )
    except CardioloraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
