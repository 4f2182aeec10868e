from __future__ import annotations

import pytest


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def to_toml(config: dict) -> str:
    """Enough TOML for study configs (tables, arrays of tables, inline tables)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in config.items() if not isinstance(v, dict | list) or k == "x"]
    for key, value in config.items():
        if isinstance(value, dict):
            lines.append(f"\n[{key}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for item in value:
                lines.append(f"\n[[{key}]]")
                lines += [f"{k} = {toml_value(v)}" for k, v in item.items()]
        elif isinstance(value, list):
            lines.insert(0, f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def tiny_study(tiny_model_dir, tiny_pairs, tmp_path):
    """A factory writing a study TOML over tiny models that runs in well under a minute."""

    def make(name: str = "tiny", **overrides) -> tuple:
        bert, qwen = str(tiny_model_dir("bert")), str(tiny_model_dir("qwen2"))
        config = {
            "name": name,
            "data": {"pairs": str(tiny_pairs)},
            "training": {"max_steps": 2, "batch_size": 8, "save_steps": 1, "eval_resamples": 100},
            "evaluation": {"sets": ["cardiology"], "transfer": ["pulmonology"], "resamples": 100},
            "bench": {"iterations": 3, "warmup": 1, "batch_sizes": [1, 2], "throughput_texts": 4},
            "models": [{"name": bert}, {"name": qwen}],
            "ablation": {"model": bert, "data_fraction": [0.5, 1.0], "loss": ["infonce", "triplet"]},
        }
        for key, value in overrides.items():
            if value is None:
                config.pop(key, None)
            elif isinstance(value, dict) and isinstance(config.get(key), dict):
                config[key] = {**config[key], **value}
            else:
                config[key] = value
        path = tmp_path / f"{name}.toml"
        path.write_text(to_toml(config))
        return path, tmp_path / "studies" / name

    return make
