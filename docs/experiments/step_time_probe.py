"""Seconds for 12 training steps of minilm under LoRA-target / dropout / length / precision variants.

    .venv/bin/python docs/experiments/step_time_probe.py DATA.jsonl qv all all-d0 all-len64 all-bf16 all-d0-len64-bf16

Behind docs/recipes.md's step-time table (2026-11-26, the 2-core development machine, run alone,
on the recommended data of that day). Every variant pins the settings the defaults had then
(batch 64, max length 128, fp32, no graded targets) and changes only what its name says, so the
numbers stay comparable after the defaults changed. Each run is cardiolora's own ``train``.
"""

import sys

from cardiolora.training import build_config, train
from cardiolora.training.config import merge_overrides

PINNED = {"batch_size": 64, "max_seq_length": 128, "precision": "fp32", "loss": {"relation_targets": {}}}
VARIANTS = {
    "qv": {"peft": {"target_modules": ["attention"]}},
    "all": {},
    "all-d0": {"peft": {"dropout": 0.0}},
    "all-len64": {"max_seq_length": 64},
    "all-bf16": {"precision": "bf16"},
    "all-d0-len64-bf16": {"peft": {"dropout": 0.0}, "max_seq_length": 64, "precision": "bf16"},
}

data, names = sys.argv[1], sys.argv[2:]
for name in names:
    base = {
        "model": "minilm",
        "data": data,
        "out": f"/tmp/step-time/{name}",
        "report_to": [],
        "max_steps": 12,
        "save_steps": 1000,
        "eval_resamples": 100,
        "peft": {"target_modules": ["all-linear"]},
        **PINNED,
    }
    values = merge_overrides(base, VARIANTS[name])
    result = train(build_config(values), overwrite=True, evaluate_zero_shot=False, log=lambda *_: None)
    print(name, result.metrics["training"]["seconds"], flush=True)
