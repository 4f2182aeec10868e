from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cardiolora.cli import app
from cardiolora.errors import CardioloraError
from cardiolora.training import build_config, train
from cardiolora.training.export import export_merged

runner = CliRunner()


def test_a_run_directory_holds_everything(tiny_config):
    config = tiny_config(eval_steps=2)
    result = train(config, log=lambda *_: None)
    run = result.run_dir
    for name in ("config.json", "versions.json", "metrics.json", "README.md"):
        assert (run / name).exists(), name
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert (run / "adapter" / "adapter_config.json").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["global_step"] == 3
    # Every bundled set by default: the target first, the others for the retention table.
    assert list(metrics["final"]) == list(config.eval_sets) and config.eval_sets[0] == "cardiology"
    assert set(metrics["zero_shot"]) == set(metrics["final"]) and len(metrics["retention"]) == len(config.eval_sets) - 1
    assert metrics["history"] and "cardiology_separation" in metrics["history"][0]
    assert json.loads((run / "config.json").read_text())["peft"]["r"] == 16
    assert "separation before" in (run / "README.md").read_text()
    assert 0 < metrics["training"]["trainable_parameters"] < metrics["training"]["total_parameters"]


@pytest.mark.parametrize(
    "loss", ["infonce", "infonce+cosine", "cached-infonce", "triplet", "cosine", "cosent", "angle"]
)
def test_every_loss_trains(tiny_config, loss):
    settings = {"name": loss, "symmetric": loss == "infonce", "mini_batch_size": 4}
    if loss == "cached-infonce":
        settings["teacher_weight"] = 0.0  # GradCache has no teacher: it must be switched off by hand
    result = train(tiny_config(loss=settings), log=lambda *_: None)
    assert np.isfinite(result.metrics["training"]["train_loss"])


@pytest.mark.parametrize("method", ["lora", "dora", "ia3", "adalora"])
def test_every_peft_method_trains_and_saves_an_adapter(tiny_config, method):
    result = train(tiny_config(peft={"method": method}, max_steps=4), log=lambda *_: None)
    config = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    assert config["peft_type"] == {"lora": "LORA", "dora": "LORA", "ia3": "IA3", "adalora": "ADALORA"}[method]
    assert config.get("use_dora", False) == (method == "dora")


@pytest.mark.parametrize("architecture", ["qwen2", "qwen3", "gemma2"])
def test_decoders_train_with_last_token_pooling(tiny_config, tiny_model_dir, architecture):
    result = train(tiny_config(model=str(tiny_model_dir(architecture))), log=lambda *_: None)
    assert result.metrics["training"]["global_step"] == 3


def test_rank_alpha_targets_and_data_fraction_are_applied(tiny_config):
    result = train(tiny_config(peft={"r": 4, "alpha": 8, "target_modules": ["query"]}, data_fraction=0.5),
                   log=lambda *_: None)  # fmt: skip
    adapter = json.loads((result.adapter_dir / "adapter_config.json").read_text())
    assert adapter["r"] == 4 and adapter["lora_alpha"] == 8 and adapter["target_modules"] == ["query"]
    assert result.metrics["training"]["pairs"] == 24


def test_default_targets_are_every_linear_layer_and_attention_is_the_zoos(tiny_config, tiny_model_dir):
    from cardiolora.models import infer_spec
    from cardiolora.training.trainer import resolve_targets

    result = train(tiny_config(), log=lambda *_: None)
    adapted = {name.split(".lora_A")[0] for name in _adapter_tensor_names(result.adapter_dir) if ".lora_A" in name}
    assert any(name.endswith("intermediate.dense") for name in adapted)  # feed-forward layers too
    assert any(name.endswith("attention.self.key") for name in adapted)
    assert not any("pooler" in name for name in adapted)  # unused by mean pooling: never trained
    from cardiolora.embedding.embedder import bf16_supported
    from cardiolora.training.prepare import resolve_precision

    assert result.metrics["training"]["precision"] == ("bf16" if bf16_supported("cpu") else "fp32")
    assert resolve_precision("auto") == result.metrics["training"]["precision"]
    assert resolve_precision("fp32") == "fp32"
    spec = infer_spec(tiny_model_dir("qwen2"), "tiny-qwen2")
    assert resolve_targets(["attention"], spec) == ["q_proj", "v_proj"]
    assert resolve_targets(["attention", "o_proj", "q_proj"], spec) == ["q_proj", "v_proj", "o_proj"]
    assert resolve_targets(["all-linear"], spec) == "all-linear"


def test_training_on_a_cpu_uses_plain_attention_and_records_it(tiny_config, tiny_model_dir):
    """PyTorch's sdpa kernels slow a CPU training step: ``auto`` trains with transformers' eager
    attention there; an explicit choice is kept; a model without sdpa says so before training."""
    import torch

    from cardiolora.training.prepare import resolve_attention

    expected = None if torch.cuda.is_available() else "eager"
    assert resolve_attention("auto") == expected
    assert resolve_attention("auto", requires_remote_code=True) is None
    assert resolve_attention("sdpa") == "sdpa"
    result = train(tiny_config(), log=lambda *_: None)
    assert result.metrics["training"]["attention"] == (expected or "sdpa")
    result = train(tiny_config(attention="sdpa", out=str(result.run_dir.parent / "sdpa")), log=lambda *_: None)
    assert result.metrics["training"]["attention"] == "sdpa"
    with pytest.raises(CardioloraError, match="cannot train with attention 'sdpa'"):
        train(tiny_config(attention="sdpa", model=str(tiny_model_dir("mpnet")), out=str(result.run_dir.parent / "m")),
              log=lambda *_: None)  # fmt: skip
    assert not (result.run_dir.parent / "m").exists()  # refused input leaves nothing behind


def test_base_dropout_sets_the_models_own_dropout_not_the_adapters(tiny_config, tiny_model_dir):
    import torch

    from cardiolora.models import load_sentence_transformer, resolve_model
    from cardiolora.training.trainer import set_dropout

    model = load_sentence_transformer(resolve_model(str(tiny_model_dir("bert"))))
    rates = {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)}
    assert rates and rates != {0.0}
    assert set_dropout(model, 0.0) == sum(isinstance(m, torch.nn.Dropout) for m in model.modules())
    assert {m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)} == {0.0}
    result = train(tiny_config(base_dropout=0.0, peft={"dropout": 0.2}), log=lambda *_: None)
    assert json.loads((result.adapter_dir / "adapter_config.json").read_text())["lora_dropout"] == 0.2
    assert json.loads((result.run_dir / "config.json").read_text())["base_dropout"] == 0.0
    with pytest.raises(CardioloraError, match="base_dropout"):
        tiny_config(base_dropout=1.5)
    assert build_config({"data": "x.jsonl", "out": "runs/x"}).base_dropout == 0.0  # off by default
    assert tiny_config(base_dropout="model").base_dropout is None  # the model's own


@pytest.mark.parametrize("architecture", ["bert", "qwen2"])
def test_upper_layers_adapt_only_the_top_of_the_stack(tiny_config, tiny_model_dir, architecture):
    from cardiolora.training.peft_methods import lower_layers_pattern

    assert lower_layers_pattern(6, 1.0) is None
    assert lower_layers_pattern(6, 0.5) == r".*\b(layer|layers|h|block|blocks)\.(0|1|2)\..*"
    assert lower_layers_pattern(12, 0.25) == r".*\b(layer|layers|h|block|blocks)\.(0|1|2|3|4|5|6|7|8)\..*"
    assert lower_layers_pattern(2, 0.1) == r".*\b(layer|layers|h|block|blocks)\.(0)\..*"  # one layer stays
    model = str(tiny_model_dir(architecture))
    result = train(tiny_config(model=model, peft={"upper_layers": 0.5}), log=lambda *_: None)
    adapted = {n.split(".lora_A")[0] for n in _adapter_tensor_names(result.adapter_dir) if ".lora_A" in n}
    layer_of = {int(part) for n in adapted for part in n.split(".") if part.isdigit()}
    assert adapted and layer_of == {1}  # the tiny models have two layers: only the upper one adapted
    whole = train(tiny_config(model=model, out=str(result.run_dir.parent / "all")), log=lambda *_: None)
    assert result.metrics["training"]["trainable_parameters"] * 2 == whole.metrics["training"]["trainable_parameters"]
    with pytest.raises(CardioloraError, match="upper_layers"):
        tiny_config(peft={"upper_layers": 0})


def test_upper_layers_refuse_a_model_whose_layers_it_cannot_find(tiny_config, monkeypatch):
    import re

    import cardiolora.training.trainer as trainer

    monkeypatch.setattr(trainer, "LAYER_NAME", re.compile(r"\bno-such-layer\.\d+\."))
    with pytest.raises(CardioloraError, match="not named as lists cardiolora knows"):
        train(tiny_config(peft={"upper_layers": 0.5}), log=lambda *_: None)
    train(tiny_config(out=str(tiny_config().out) + "-all"), log=lambda *_: None)  # every layer: no check


def test_all_linear_stands_alone():
    with pytest.raises(CardioloraError, match="all-linear"):
        build_config({"data": "x.jsonl", "out": "runs/x", "peft": {"target_modules": ["all-linear", "query"]}})


def _adapter_tensor_names(adapter_dir):
    from safetensors import safe_open

    with safe_open(str(adapter_dir / "adapter_model.safetensors"), "pt") as handle:
        return list(handle.keys())


def test_a_finished_run_is_never_overwritten_silently(tiny_config):
    config = tiny_config()
    train(config, log=lambda *_: None)
    before = (config.out / "metrics.json").read_text()
    with pytest.raises(CardioloraError, match="--overwrite"):
        train(config, log=lambda *_: None)
    assert (config.out / "metrics.json").read_text() == before
    train(config, overwrite=True, log=lambda *_: None)


def test_export_merges_into_a_standalone_model(tiny_config, tmp_path):
    from sentence_transformers import SentenceTransformer

    from cardiolora.embedding import Embedder

    # Training caps texts at 8 tokens; the export must read as far as `cardiolora embed` does.
    config = tiny_config(max_steps=4, learning_rate=0.05, max_seq_length=8)
    result = train(config, log=lambda *_: None)
    merged = export_merged(result.run_dir, tmp_path / "merged")
    long_text = " ".join(["mitral valve stenosis with pericardial effusion and atrial fibrillation"] * 6)
    texts = ["mitral valve stenosis", "pericardial effusion with chest pain", "atrial fibrillation", long_text]
    exported = SentenceTransformer(str(merged), device="cpu")
    embedder = Embedder.load(config.model, adapter=result.adapter_dir)
    assert len(embedder.model.tokenizer(long_text)["input_ids"]) > 2 * config.max_seq_length
    assert exported.max_seq_length == embedder.model.max_seq_length > config.max_seq_length
    standalone = exported.encode(texts, normalize_embeddings=True)
    adapted = embedder.encode(texts)
    base = Embedder.load(config.model).encode(texts)
    assert (standalone * adapted).sum(1).min() >= 0.9999
    assert np.abs(adapted - base).max() > 1e-4  # the adapter changed the model, so the check means something
    # The card is the run's (results, the adapter) made the export's, not the base model's.
    card = (merged / "README.md").read_text()
    assert "merged" in card and "cardiology" in card and f"up to {exported.max_seq_length} tokens" in card
    marker = json.loads((merged / "cardiolora-export.json").read_text())
    assert marker["max_seq_length"] == exported.max_seq_length and marker["training_max_seq_length"] == 8
    # Hub metadata, as huggingface_hub reads it: an exported directory can be pushed as it is.
    from huggingface_hub import ModelCard

    data = ModelCard.load(merged / "README.md").data
    assert data.library_name == "sentence-transformers" and data.pipeline_tag == "sentence-similarity"
    assert "cardiology" in data.tags and data.datasets == ["human-phenotype-ontology", "icd-10-cm"]
    names = {(r.dataset_type, r.metric_type) for r in data.eval_results}
    assert ("cardiolora/cardiology", "roc_auc") in names and ("cardiolora/pulmonology", "roc_auc") in names
    auc = next(
        r.metric_value
        for r in data.eval_results
        if r.dataset_type == "cardiolora/cardiology" and r.metric_type == "roc_auc"
    )
    assert auc == round(result.metrics["final"]["cardiology"]["auc"], 4)
    # RUN/adapter, as embed and evaluate take it, exports the same model.
    via_adapter = SentenceTransformer(str(export_merged(result.adapter_dir, tmp_path / "via-adapter")), device="cpu")
    assert (via_adapter.encode(texts, normalize_embeddings=True) * standalone).sum(1).min() >= 0.9999
    # An adapter on its own (received without its run) exports the same model, from the base it records.
    import shutil

    alone = shutil.copytree(result.adapter_dir, tmp_path / "received" / "cardio-adapter")
    from_alone = SentenceTransformer(str(export_merged(alone, tmp_path / "from-alone")), device="cpu")
    assert (from_alone.encode(texts, normalize_embeddings=True) * standalone).sum(1).min() >= 0.9999
    with pytest.raises(CardioloraError, match="neither a training run directory"):
        export_merged(tmp_path / "received", tmp_path / "nothing")
    assert not (tmp_path / "nothing").exists()


def test_toml_config_with_flag_overrides(tiny_model_dir, tiny_pairs, tmp_path):
    toml = tmp_path / "train.toml"
    toml.write_text(
        f'model = "{tiny_model_dir("bert")}"\ndata = "{tiny_pairs}"\nout = "{tmp_path / "from-toml"}"\n'
        'max_steps = 2\nbatch_size = 8\nreport_to = []\n[peft]\nr = 8\n[loss]\nname = "infonce"\n'
    )
    result = runner.invoke(app, ["train", "--config", str(toml), "--rank", "4", "--out", str(tmp_path / "flagged")])
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "flagged" / "config.json").read_text())
    assert config["peft"]["r"] == 4 and config["loss"]["name"] == "infonce" and config["max_steps"] == 2
    assert not (tmp_path / "from-toml").exists()
    # The run keeps its target set's embedding map, and the command draws it.
    mapped = json.loads((tmp_path / "flagged" / "embedding_map.json").read_text())
    assert mapped["eval_set"] == config["eval_sets"][0] and len(mapped["texts"]) == len(mapped["adapted"])
    assert mapped["zero_shot"] != mapped["adapted"]  # base and adapted vectors differ
    assert (tmp_path / "flagged" / "embedding_map.png").read_bytes()[:4] == b"\x89PNG"
    assert "embedding map of" in result.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--model", "minlm"], "did you mean 'minilm'"),
        (["--rank", "0"], "peft.r"),
        (["--lr", "-0.001"], "learning_rate"),
        (["--load-in-8bit"], "needs a CUDA GPU"),
        (["--loss", "hinge"], "loss.name"),
        (["--precision", "fp16"], "fp16 needs a CUDA GPU"),
        (["--target-module", "bogus"], "peft.target_modules"),
    ],
)
def test_bad_options_fail_cleanly_without_a_run_directory(tiny_model_dir, tiny_pairs, tmp_path, args, fragment):
    out = tmp_path / "run"
    base = ["train", "--model", str(tiny_model_dir("bert")), "--data", str(tiny_pairs), "--out", str(out)]
    result = runner.invoke(app, base + args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "empty"),
        ("anchor,text\nx,y\n", "field 'positive'"),
        ('{"anchor": "only"}\n', "field 'positive'"),
        ('{"anchor": "a", "positive": "same"}\n{"anchor": "b", "positive": "same"}\n', "2 distinct positives"),
    ],
)
def test_bad_datasets_fail_cleanly(tiny_model_dir, tmp_path, content, fragment):
    data = tmp_path / ("pairs.csv" if content.startswith("anchor,") else "pairs.jsonl")
    data.write_text(content)
    out = tmp_path / "run"
    result = runner.invoke(
        app, ["train", "--model", str(tiny_model_dir("bert")), "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and not out.exists()


def test_resume_skips_a_checkpoint_cut_short_by_a_kill(tmp_path):
    from cardiolora.training.run_directory import last_checkpoint as _last_checkpoint

    for step, complete in ((20, True), (40, True), (60, False)):
        checkpoint = tmp_path / "checkpoints" / f"checkpoint-{step}"
        checkpoint.mkdir(parents=True)
        if complete:
            (checkpoint / "trainer_state.json").write_text("{}")
    assert _last_checkpoint(tmp_path).endswith("checkpoint-40")


def test_a_zoo_models_card_names_its_hub_base_model_and_licence(tiny_config):
    from huggingface_hub import ModelCard

    from cardiolora.training.model_card import model_card

    metrics = {
        "model": "minilm",
        "final": {"cardiology": {"separation": 0.3, "auc": 0.81234, "negation_accuracy": 0.5}},
        "normalisation": {"cardiology": {"final": {"top1": 0.2, "top5": 0.5, "mrr": 0.3}}},
        "training": {"pairs": 10, "global_step": 3, "seconds": 1.0, "trainable_parameters": 1, "total_parameters": 2},
        "command": "cardiolora train",
    }
    data = ModelCard(model_card(tiny_config(), metrics)).data
    assert data.base_model == "sentence-transformers/all-MiniLM-L6-v2" and data.license == "apache-2.0"
    results = {(r.dataset_type, r.metric_type): r.metric_value for r in data.eval_results}
    assert results[("cardiolora/cardiology", "roc_auc")] == 0.8123
    assert results[("cardiolora/normalisation-cardiology", "accuracy")] == 0.2


def test_a_run_directory_cannot_switch_on_remote_code_for_export(tiny_config, tmp_path, monkeypatch):
    """A run directory may come from anyone: its config.json saying trust_remote_code is ignored;
    only the caller's own flag allows a model's code to run."""
    import cardiolora.models as models

    result = train(tiny_config(max_steps=2), log=lambda *_: None)
    config_file = result.run_dir / "config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "trust_remote_code": True}))
    seen = []
    real = models.load_sentence_transformer

    def spy(resolved, **kwargs):
        seen.append(kwargs.get("trust_remote_code"))
        return real(resolved, **kwargs)

    monkeypatch.setattr(models, "load_sentence_transformer", spy)
    export_merged(result.run_dir, tmp_path / "merged")
    export_merged(result.run_dir, tmp_path / "trusted", trust_remote_code=True)
    assert seen == [False, True]


def test_a_runs_numbers_are_evaluates_numbers_past_the_training_cap(tiny_config, tiny_model_dir):
    """Training caps texts at 16 tokens here; the run's zero-shot and final evaluations are made as
    `cardiolora evaluate` makes them (whole texts, the saved adapter as loaded), to the last digit."""
    from cardiolora.embedding import Embedder
    from cardiolora.evaluation import evaluate_embedder, load_eval_set

    config = tiny_config(max_seq_length=16, eval_sets=["cardiology"], eval_resamples=100)
    run = train(config, log=lambda *_: None).run_dir
    metrics = json.loads((run / "metrics.json").read_text())
    model = str(tiny_model_dir("bert"))
    eval_set = load_eval_set("cardiology")
    for name, adapter in (("zero_shot", None), ("final", run / "adapter")):
        embedder = Embedder.load(model, adapter=adapter)
        assert embedder.model.max_seq_length > 16
        expected = evaluate_embedder(embedder, [eval_set], n_resamples=100, seed=config.seed).to_dict()
        assert metrics[name]["cardiology"]["separation"] == pytest.approx(expected["separation"], abs=1e-12), name
        assert metrics[name]["cardiology"]["auc"] == expected["auc"], name
