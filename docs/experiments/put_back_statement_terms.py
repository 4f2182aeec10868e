"""A diagnostic dataset, never a recipe: a built dataset plus the bank's description -> name pairs
that the leak guard dropped because the name is an evaluation diagnosis (docs/recipes.md row
``diagcov``). A pair comes back only when its description passes the guard (no evaluation text, nor a
near duplicate): what is measured is the concept-level part of the guard, not text leaks.

.venv/bin/python docs/experiments/put_back_statement_terms.py data/cardio-recommended.jsonl data/diag-coverage.jsonl
"""

import argparse
import json
from pathlib import Path

from cardiolora.data.leakage import bundled_guard
from cardiolora.io import iter_jsonl

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("built", type=Path, help="a dataset built by `cardiolora data ontology` (NAME.jsonl)")
parser.add_argument("out", type=Path)
args = parser.parse_args()
guard = bundled_guard()
dropped = args.built.with_name(args.built.stem + ".dropped.jsonl")
back = []
for _, row in iter_jsonl(dropped):
    if row["relation"] == "statement-term" and not guard.leaks(row["anchor"]):
        back.append({k: v for k, v in row.items() if k not in ("reason", "kept")})
tmp = args.out.with_suffix(".tmp")
with tmp.open("w") as handle:
    handle.write(args.built.read_text())
    handle.writelines(json.dumps(row) + "\n" for row in back)
tmp.replace(args.out)
print(f"{args.out}: {args.built} plus {len(back)} statement-term pairs put back")
