"""Plan and run a study: data, then per model zero-shot evaluation, training, adapted evaluation
(headline and transfer sets) and benchmark, then the ablation grid, then the report.

Every step writes one file or directory atomically, and a step whose output exists is finished:
re-running a study skips finished steps and resumes an interrupted training run from its last
checkpoint. The study directory is locked while a study runs in it (``.NAME.lock`` beside it,
holding the pid): a second run of it is refused instead of interleaving. The study directory::

    study.json              the resolved configuration (a re-run with a different one is refused)
    versions.json           package versions
    data/pairs.jsonl        training pairs (+ data card), unless data.pairs names a file
    models/<model>/zero-shot.json, train/ (a `cardiolora train` run), adapted.json, embedding_map.json, bench.json
    ablation/<cell>/train/, ablation/<cell>/adapted.json
    unavailable.json        models whose weights are not on this machine (skipped, reported)
    report.md, report.html, results.csv, figures/*.png
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardiolora.directories import lock_directory
from cardiolora.errors import CardioloraError, ModelNotAvailableError
from cardiolora.evaluation.evaluate import EvaluationReport
from cardiolora.io import read_json_object, write_json_atomic
from cardiolora.study.config import StudyConfig, ablation_cells, slug, train_config_for


@dataclass
class Step:
    """One unit of work; finished when ``output`` exists."""

    kind: str
    model: str | None
    output: Path
    cell: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        where = f"ablation {self.cell}" if self.cell else (self.model or "study")
        return f"{where}: {self.kind}"

    @property
    def finished(self) -> bool:
        marker = self.output / "metrics.json" if self.kind == "train" else self.output
        return marker.exists()


@dataclass
class Plan:
    config: StudyConfig
    study_dir: Path
    steps: list[Step]
    availability: dict[str, tuple[str | None, str | None]]  # see availability(); in config order

    @property
    def unavailable(self) -> dict[str, str]:
        return {name: why for name, (_, why) in self.availability.items() if why}

    @property
    def pending(self) -> list[Step]:
        return [s for s in self.steps if not s.finished]


def data_path(config: StudyConfig, study_dir: Path) -> Path:
    return config.data.pairs if config.data.pairs is not None else study_dir / "data" / "pairs.jsonl"


def build_study_data(config: StudyConfig, out: Path) -> None:
    """The study's training pairs from the ontologies, as its ``[data]`` section says."""
    from cardiolora.data import OntologyRecipe, build_ontology_dataset
    from cardiolora.data.diseases import DiseaseRecipe
    from cardiolora.data.ontology_pairs import DEFAULT_WEIGHTS
    from cardiolora.data.statements import StatementRecipe

    settings = config.data
    recipe = OntologyRecipe(weights={**DEFAULT_WEIGHTS, **settings.weights}, seed=config.seed)
    custom_sets = [s for s in config.evaluation.all_sets if Path(s).suffix]
    diseases = statements = None
    if settings.diseases is not False:
        chosen = settings.diseases if isinstance(settings.diseases, dict) else {}
        diseases = DiseaseRecipe(weights={**DiseaseRecipe().weights, **chosen}, seed=config.seed)
    if settings.statements is not False:
        chosen = settings.statements if isinstance(settings.statements, dict) else {}
        statements = StatementRecipe(weights={**StatementRecipe().weights, **chosen}, seed=config.seed)
    build_ontology_dataset(
        out,
        branch=settings.branch,
        sources=settings.sources,
        recipe=recipe,
        exclude_eval=custom_sets,
        replay_ratio=settings.replay_ratio,
        replay_branches=settings.replay_branches,
        diseases=diseases,
        statements=statements,
    )


def model_dir(study_dir: Path, model: str) -> Path:
    return study_dir / "models" / slug(model)


def availability(config: StudyConfig) -> dict[str, tuple[str | None, str | None]]:
    """Model name -> (where its weights are, None) when they are here, else (None, why not)."""
    from cardiolora.models import resolve_model

    names = [m.name for m in config.models] + ([config.ablation.model] if config.ablation else [])
    status: dict[str, tuple[str | None, str | None]] = {}
    for name in dict.fromkeys(names):
        try:
            status[name] = (resolve_model(name).source.describe(), None)
        except ModelNotAvailableError as exc:
            status[name] = (None, str(exc))
    return status


def plan_study(config: StudyConfig, study_dir: Path, only: list[str] | None = None) -> Plan:
    """Every step of the study in execution order; ``only`` keeps the steps of those model names
    (``ablation`` for the grid)."""
    status = availability(config)
    unavailable = {name for name, (_, why) in status.items() if why}
    known = set(status) | {"ablation"}
    for name in only or []:
        if name not in known:
            from cardiolora.errors import UnknownNameError

            raise UnknownNameError("study member", name, known)
    wanted = set(only or known)
    steps: list[Step] = []
    if config.data.pairs is None:
        steps.append(Step("data", None, data_path(config, study_dir)))
    for entry in config.models:
        if entry.name in unavailable or entry.name not in wanted:
            continue
        root = model_dir(study_dir, entry.name)
        steps.append(Step("zero-shot", entry.name, root / "zero-shot.json"))
        steps.append(Step("train", entry.name, root / "train"))
        steps.append(Step("adapted", entry.name, root / "adapted.json"))
        if config.bench.enabled:
            steps.append(Step("bench", entry.name, root / "bench.json"))
    ablation = config.ablation
    if ablation and ablation.model not in unavailable and "ablation" in wanted:
        if ablation.model not in {m.name for m in config.models}:
            steps.append(Step("zero-shot", ablation.model, model_dir(study_dir, ablation.model) / "zero-shot.json"))
        for cell, overrides in ablation_cells(ablation):
            root = study_dir / "ablation" / cell
            steps.append(Step("train", ablation.model, root / "train", cell, overrides))
            steps.append(Step("adapted", ablation.model, root / "adapted.json", cell, overrides))
    return Plan(config, study_dir, steps, status)


def _check_same_study(config: StudyConfig, study_dir: Path) -> None:
    saved_path = study_dir / "study.json"
    if not saved_path.exists():
        return
    saved = json.loads(saved_path.read_text())
    current = config.resolved()
    # Models, the grid and the benchmark may grow; what finished steps depend on may not change.
    fixed = ("seed", "data", "training", "evaluation")
    changed = [key for key in fixed if saved.get(key) != current.get(key)]
    if changed:
        raise CardioloraError(
            f"{study_dir} holds a study run with different {', '.join(changed)} settings; its finished "
            "steps would no longer match the configuration. Use another --out, or delete that directory."
        )


def _check_train_config(step: Step, train_config) -> None:
    saved = step.output / "config.json"
    if step.output.exists() and saved.exists():
        before = json.loads(saved.read_text())
        now = train_config.resolved()
        differing = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if differing:
            raise CardioloraError(
                f"{step.output} was trained with other settings ({', '.join(differing)}); refusing to mix "
                "them. Delete that run directory to retrain it."
            )


class StudyRunner:
    """Executes a :class:`Plan`; ``on_step(step, phase, seconds)`` reports progress."""

    def __init__(self, plan: Plan, on_step: Callable[[Step, str, float], None] | None = None, log=print) -> None:
        self.plan = plan
        self.config = plan.config
        self.study_dir = plan.study_dir
        self.on_step = on_step or (lambda step, phase, seconds: None)
        self.log = log

    def run(self) -> list[Step]:
        """Run the pending steps, holding the study directory's lock."""
        with lock_directory(self.study_dir, what="study directory"):
            return self._run()

    def _run(self) -> list[Step]:
        from cardiolora.training.prepare import check_hardware
        from cardiolora.versions import package_versions

        _check_same_study(self.config, self.study_dir)
        # Settings this machine cannot run fail now, not after hours of other models' work.
        for step in self.plan.pending:
            if step.kind == "train":
                check_hardware(self._train_config(step))
        self.study_dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.study_dir / "study.json", self.config.resolved())
        write_json_atomic(self.study_dir / "versions.json", package_versions(("datasets", "accelerate", "matplotlib")))
        write_json_atomic(self.study_dir / "unavailable.json", self.plan.unavailable)
        done = []
        for step in self.plan.steps:
            if step.finished:
                self.on_step(step, "skipped", 0.0)
                continue
            self.on_step(step, "started", 0.0)
            started = time.perf_counter()
            getattr(self, "_" + step.kind.replace("-", "_"))(step)
            self.on_step(step, "finished", time.perf_counter() - started)
            done.append(step)
        return done

    def _data(self, step: Step) -> None:
        build_study_data(self.config, step.output)

    def _evaluate(self, step: Step, adapter: Path | None) -> None:
        """Evaluate one model (zero-shot or adapted) on every set of the study; the headline set is
        also scored as a retrieval task (``retrieval`` in its evaluation: MRR@10, Recall@k...) and at
        fewer dimensions (``truncation``), in the same step because the model is loaded here anyway."""
        from cardiolora.embedding import Embedder
        from cardiolora.evaluation import evaluate_embedder, load_eval_set
        from cardiolora.evaluation.evaluate import truncation_curve
        from cardiolora.evaluation.retrieval import evaluate_eval_set_retrieval

        embedder = Embedder.load(step.model, adapter=adapter, trust_remote_code=self._trust_remote_code(step.model))
        sets = [load_eval_set(name) for name in self.config.evaluation.all_sets]
        from cardiolora.evaluation.normalisation import load_normalisation_set

        report = evaluate_embedder(
            embedder,
            sets,
            n_resamples=self.config.evaluation.resamples,
            seed=self.config.seed,
            normalisation_sets=[load_normalisation_set(n) for n in self.config.evaluation.normalisation],
        )
        report.command = f"cardiolora study run ({self.config.name}): {step.label}"
        headline = sets[0]  # evaluation.sets[0]: the set the report's tables are about
        retrieval = evaluate_eval_set_retrieval(embedder, headline).to_dict()
        # Only a model's own evaluations: the report shows truncation per model, not per ablation cell.
        truncation = truncation_curve(embedder, headline) if step.cell is None else None
        document = report.to_dict()
        for evaluation in document["evaluations"]:
            if evaluation["eval_set"]["name"] == headline.name:
                evaluation["retrieval"] = retrieval
                if truncation is not None:
                    evaluation["truncation"] = truncation
        if adapter is not None and step.cell is None:
            # Beside the adapted evaluation, before it: a finished step always has its map.
            from cardiolora.evaluation.embedding_map import embedding_map

            # The training run drew the same map of its target set: reused, not encoded again.
            trained = read_json_object(Path(adapter).parent / "embedding_map.json")
            mapped = trained if trained.get("eval_set") == headline.name else embedding_map(embedder, headline)
            write_json_atomic(step.output.parent / "embedding_map.json", mapped)
        write_json_atomic(step.output, document)

    def _trust_remote_code(self, model: str) -> bool:
        return any(m.trust_remote_code for m in self.config.models if m.name == model)

    def _zero_shot(self, step: Step) -> None:
        self._evaluate(step, None)

    def _train_config(self, step: Step):
        return train_config_for(
            self.config,
            step.model,
            step.output if step.kind == "train" else step.output.parent / "train",
            data_path(self.config, self.study_dir),
            step.overrides,
        )

    def _train(self, step: Step) -> None:
        from cardiolora.training import train

        train_config = self._train_config(step)
        _check_train_config(step, train_config)
        resume = step.output.exists() and any(step.output.iterdir())
        # The model's zero-shot step evaluated the base model already: the run keeps it (its metrics.json
        # then has zero-shot and retention, as a `cardiolora train` run's has) instead of evaluating again.
        zero_shot_file = model_dir(self.study_dir, step.model) / "zero-shot.json"
        zero_shot = (
            EvaluationReport.from_dict(json.loads(zero_shot_file.read_text())) if zero_shot_file.exists() else None
        )
        train(train_config, resume=resume, evaluate_zero_shot=zero_shot is not None, zero_shot=zero_shot, log=self.log)

    def _adapted(self, step: Step) -> None:
        self._evaluate(step, self._train_config(step).out / "adapter")

    def _bench(self, step: Step) -> None:
        from cardiolora.bench import BenchSettings, run_benchmark

        bench = self.config.bench
        settings = BenchSettings(
            iterations=bench.iterations,
            warmup=bench.warmup,
            batch_sizes=tuple(bench.batch_sizes),
            throughput_texts=max(bench.throughput_texts, max(bench.batch_sizes)),
            trust_remote_code=self._trust_remote_code(step.model),
        )
        result = run_benchmark(step.model, step.output.parent / "train" / "adapter", settings)
        write_json_atomic(step.output, result.to_dict())


def run_study(
    config: StudyConfig,
    study_dir: str | Path,
    *,
    only: list[str] | None = None,
    report: bool = True,
    on_step: Callable[[Step, str, float], None] | None = None,
    log=print,
) -> Plan:
    """Run (or resume) the study into ``study_dir`` and write its report, holding the study
    directory's lock throughout (what is finished is decided under it)."""
    with lock_directory(study_dir, what="study directory"):
        plan = plan_study(config, Path(study_dir), only)
        StudyRunner(plan, on_step, log).run()
        if report:
            from cardiolora.study.report import write_report

            write_report(plan.study_dir)
    return plan
