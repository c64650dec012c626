"""Export a results store to MLflow, where teams already compare runs.

One MLflow run per finished experiment, in one MLflow experiment (``bakeoff`` by default):

- **params**: the experiment's configuration, flattened (``task``, ``model``, ``method``,
  ``seed``, ``settings.learning_rate``...): exactly what its id is a hash of, so they never change
  for a run;
- **metrics**: accuracy with its Wilson 95% interval (``accuracy_ci_low``/``_high``), macro-F1,
  MCC, invalid rate, expected calibration error (``ece``), p-value against the majority baseline,
  per-class precision/recall/F1, throughput, latency p50/p95, peak memory, training and load
  time, labels used, and the training loss per epoch (``train_loss_epoch``, step = epoch);
- **tags**: bakeoff's experiment id (``bakeoff.experiment_id``), the store, timing details
  (``timing.*``), the environment (``env.*``: versions, device, CPU/GPU), warnings, and the
  settings that change only how it was timed (``setting.device``, ``setting.latency_samples``);
- **artifacts**: ``predictions.jsonl`` (its per-example records, schema ``bakeoff.samples/1``,
  see ``bakeoff.samples``), ``experiment.json`` (the whole stored record: configuration,
  metrics with the confusion matrix, timing, training, environment) and, when asked, the report
  folder under ``report/``.

Re-exporting never duplicates: each run carries bakeoff's experiment id as a tag, found first.
A run whose experiment has not changed since (same ``bakeoff.finished_at``, same name) is left
alone; one re-run since (``bakeoff run --force``) is updated in place: new metric values (the
latest is what MLflow shows), tags and artifacts. The run's start and end times are the
experiment's own.

MLflow is optional (``pip install 'bakeoff[mlflow]'``); without it this is one error line.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bakeoff.errors import BakeoffError

ID_TAG = "bakeoff.experiment_id"
FINISHED_TAG = "bakeoff.finished_at"
EXPORT_SCHEMA = "bakeoff.mlflow/1"
DEFAULT_EXPERIMENT = "bakeoff"
INSTALL_HINT = "pip install 'bakeoff[mlflow]' (or pip install mlflow)"


@dataclass
class TrackingSummary:
    """What an export did, per bakeoff experiment id."""

    tracking_uri: str
    experiment_name: str
    mlflow_experiment_id: str
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    #: bakeoff experiment id -> MLflow run id
    runs: dict[str, str] = field(default_factory=dict)


def import_mlflow(quiet: bool = False) -> Any:
    """The ``mlflow`` module, or the one-line error naming the extra to install. ``quiet``
    lowers MLflow's INFO lines (database migrations on first use) to warnings only."""
    try:
        import mlflow
        from mlflow import MlflowClient  # noqa: F401
    except ImportError:
        raise BakeoffError(f"MLflow export needs the mlflow package; {INSTALL_HINT}") from None
    if quiet:
        # after the import: MLflow sets its own logger's level when it is imported
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)
    return mlflow


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
    else:
        out[prefix] = value


def _text(value: Any) -> str:
    """A param or tag value: strings as they are, everything else as JSON (null, true, [..])."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_BAD_KEY = re.compile(r"[^A-Za-z0-9_\-. /:]")


def metric_key(name: str) -> str:
    """MLflow allows letters, digits and ``_-. /:`` in keys; anything else becomes ``_``."""
    return _BAD_KEY.sub("_", name)[:250]


def run_params(record: Any) -> dict[str, str]:
    """The experiment's identity (its id is a hash of exactly this), flattened."""
    flat: dict[str, Any] = {}
    _flatten("", record.config.identity(), flat)
    flat["label_names"] = list(record.label_names)
    return {metric_key(k): _text(v) for k, v in flat.items()}


def run_metrics(record: Any, ece: float | None, p_vs_baseline: float | None) -> dict[str, float]:
    """Every number worth comparing across runs (None values left out)."""
    m, t, tr = record.metrics, record.timing, record.training
    values: dict[str, Any] = {
        "n": m.n,
        "accuracy": m.accuracy,
        "accuracy_ci_low": m.accuracy_ci_low,
        "accuracy_ci_high": m.accuracy_ci_high,
        "macro_f1": m.macro_f1,
        "mcc": m.mcc,
        "n_invalid": m.n_invalid,
        "invalid_rate": m.invalid_rate,
        "ece": ece,
        "p_vs_baseline": p_vs_baseline,
    }
    for label, c in m.per_class.items():
        values[f"precision.{label}"] = c.precision
        values[f"recall.{label}"] = c.recall
        values[f"f1.{label}"] = c.f1
    if t is not None:
        values.update(
            throughput_per_s=t.throughput_per_s,
            latency_median_ms=t.latency_median_ms,
            latency_p95_ms=t.latency_p95_ms,
            peak_memory_mb=t.peak_memory_mb,
            eval_time_s=t.total_s,
        )
    if tr is not None:
        values.update(
            labels_used=tr.labels_used,
            train_time_s=tr.train_time_s,
            load_time_s=tr.load_time_s,
            train_steps=tr.steps,
            train_loss=tr.loss,
        )
    return {
        metric_key(k): float(v)
        for k, v in values.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v
    }


def run_tags(
    record: Any, name: str, store_path: Path, beats_baseline: bool | None
) -> dict[str, str]:
    """Where it ran and how it was timed; bakeoff's id and finish time for re-exports."""
    from bakeoff import __version__
    from bakeoff.config import TIMING_ONLY
    from bakeoff.metrics import format_accuracy

    m = record.metrics
    tags: dict[str, Any] = {
        ID_TAG: record.id,
        FINISHED_TAG: repr(record.finished_at),
        "bakeoff.name": name,
        "bakeoff.store": str(store_path.resolve()),
        "bakeoff.export_schema": EXPORT_SCHEMA,
        "bakeoff.version": __version__,
        "bakeoff.attempts": record.attempts,
        "mlflow.note.content": (
            f"bakeoff experiment `{record.id}`: {record.task} / {name}. Accuracy % "
            f"{format_accuracy(m.accuracy, m.accuracy_ci_low, m.accuracy_ci_high)} "
            f"(95% interval), n = {m.n}."
        ),
    }
    if beats_baseline is not None:
        tags["bakeoff.beats_baseline"] = beats_baseline
    dumped = record.config.model_dump(mode="json")
    for key in sorted(TIMING_ONLY):
        if key in dumped:
            tags[f"setting.{key}"] = dumped[key]
    if record.timing is not None:
        t = record.timing
        tags.update(
            {
                "timing.device": t.device,
                "timing.memory_kind": t.memory_kind,
                "timing.batch_size": t.batch_size,
                "timing.latency_n": t.latency_n,
                "timing.n_examples": t.n_examples,
            }
        )
    if record.training is not None:
        tr = record.training
        tags["training.precision"] = tr.precision
        tags["training.model_path"] = tr.model_path
        if tr.warnings:
            tags["bakeoff.warnings"] = " | ".join(tr.warnings)
    env: dict[str, Any] = {}
    _flatten("env", record.environment or {}, env)
    tags.update(env)
    return {metric_key(k): _text(v)[:5000] for k, v in tags.items() if v is not None}


def _record_json(record: Any) -> dict[str, Any]:
    return {
        "id": record.id,
        "task": record.task,
        "model": record.model,
        "method": record.method,
        "eval_split": record.eval_split,
        "dataset_key": record.dataset_key,
        "label_names": list(record.label_names),
        "config": record.config.model_dump(mode="json"),
        "metrics": record.metrics.to_json() if record.metrics else None,
        "timing": record.timing.to_json() if record.timing else None,
        "training": record.training.to_json() if record.training else None,
        "environment": record.environment,
        "attempts": record.attempts,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _mlflow_error(uri: str, exc: BaseException) -> BakeoffError:
    text = str(exc).strip()
    first = (text.splitlines()[0] if text else type(exc).__name__)[:240]
    if "filesystem tracking backend" in text:
        return BakeoffError(
            f"MLflow refuses to write the folder store {uri} (its file store is in maintenance "
            "mode); use --tracking-uri sqlite:///mlflow.db, or set MLFLOW_ALLOW_FILE_STORE=true "
            "to keep using the folder"
        )
    database = uri.split(":", 1)[0] in ("sqlite", "postgresql", "mysql", "mssql")
    if database and (isinstance(exc, ImportError) or not _has_sqlalchemy()):
        return BakeoffError(
            f"MLflow cannot open the database {uri}: the installed MLflow has no database "
            "support (mlflow-skinny alone); pip install sqlalchemy alembic (or the full mlflow), "
            "or pass --tracking-uri http://your-mlflow-server"
        )
    if "Max retries exceeded" in text or "Connection refused" in text or "NameResolution" in text:
        return BakeoffError(
            f"cannot reach the MLflow tracking server at {uri}; start it, or check --tracking-uri"
        )
    if "readonly database" in text or "unable to open database" in text:
        return BakeoffError(
            f"MLflow cannot write the database {uri} (read-only, or its folder is); make it "
            "writable or pass another --tracking-uri, e.g. sqlite:///mlflow.db"
        )
    return BakeoffError(f"MLflow at {uri}: {first}; check --tracking-uri and that it is reachable")


def _database_errors() -> tuple[type[BaseException], ...]:
    """SQLAlchemy's errors (a database MLflow cannot open or write), where it is installed."""
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        return ()
    return (SQLAlchemyError,)


def _has_sqlalchemy() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("sqlalchemy") is not None
    except (ImportError, ValueError):  # a module blocked or half-installed
        return False


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds * 1000)


def _find_runs(client: Any, experiment_id: str, bakeoff_id: str) -> list[Any]:
    from mlflow.entities import ViewType

    return list(
        client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{ID_TAG}` = '{bakeoff_id}'",
            run_view_type=ViewType.ACTIVE_ONLY,
            order_by=["attributes.start_time ASC"],
        )
    )


def _param_limit(mlflow: Any) -> int:
    """MLflow before 2.9 keeps 500 characters of a param value, later versions 6000."""
    try:
        major, minor = (int(x) for x in mlflow.__version__.split(".")[:2])
    except ValueError:
        return 500
    return 500 if (major, minor) < (2, 9) else 6000


@dataclass
class _Context:
    """What every run of one export shares."""

    client: Any
    mlflow_experiment: str
    store: Any
    store_path: Path
    report: Path | None
    param_limit: int


def _log_experiment(ctx: _Context, record: Any, name: str, base: Any) -> tuple[str, str]:
    """Create, update or leave alone the MLflow run of one experiment: (action, run id)."""
    from mlflow.entities import Metric, Param, RunTag

    from bakeoff.metrics import expected_calibration_error
    from bakeoff.samples import experiment_samples

    client = ctx.client
    predictions = ctx.store.predictions(record.id)
    test = base.test(predictions) if base else None
    beats = None if test is None else bool(test.a_only > test.b_only and test.p_value < 0.05)
    ece = record.metrics.ece
    if ece is None:  # stored before ECE existed: the probabilities are in the store
        ece = expected_calibration_error(
            [p.scores for p in predictions],
            [p.gold for p in predictions],
            [p.pred for p in predictions],
        )
    tags = run_tags(record, name, ctx.store_path, beats)
    run_name = f"{record.task} · {name}"
    existing = _find_runs(client, ctx.mlflow_experiment, record.id)
    if existing:
        run = existing[0]
        run_id = run.info.run_id
        same = (
            run.data.tags.get(FINISHED_TAG) == tags[FINISHED_TAG] and run.info.run_name == run_name
        )
        action = "unchanged" if same else "updated"
        have_params = dict(run.data.params)
    else:
        action = "created"
        run_id = client.create_run(
            ctx.mlflow_experiment,
            start_time=_ms(record.started_at or record.created_at),
            tags={ID_TAG: record.id},
            run_name=run_name,
        ).info.run_id
        have_params = {}
    if action != "unchanged":
        stamp = _ms(record.finished_at) or 0
        # params are the experiment's identity, the same for its id; only missing ones are
        # logged (MLflow refuses to change a param)
        params = [
            Param(k, v[: ctx.param_limit])
            for k, v in run_params(record).items()
            if k not in have_params
        ]
        values = run_metrics(record, ece, None if test is None else test.p_value)
        metrics = [Metric(k, v, stamp, 0) for k, v in values.items()]
        if record.training is not None:
            metrics += [
                Metric("train_loss_epoch", float(loss), stamp, epoch)
                for epoch, loss in enumerate(record.training.loss_per_epoch, 1)
            ]
        for chunk in _batches(params, 100):
            client.log_batch(run_id, params=chunk)
        tag_list = [RunTag(k, v) for k, v in tags.items() if k != FINISHED_TAG]
        for chunk in _batches(tag_list, 100):
            client.log_batch(run_id, tags=chunk)
        for chunk in _batches(metrics, 1000):
            client.log_batch(run_id, metrics=chunk)
        if action == "updated" and run.info.run_name != run_name:
            client.update_run(run_id, name=run_name)
        with tempfile.TemporaryDirectory(prefix="bakeoff-mlflow-") as tmp:
            folder = Path(tmp)
            with (folder / "predictions.jsonl").open("w", encoding="utf-8") as fh:
                for rec in experiment_samples(ctx.store, record, name):
                    fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            (folder / "experiment.json").write_text(
                json.dumps(_record_json(record), indent=2), encoding="utf-8"
            )
            client.log_artifact(run_id, str(folder / "predictions.jsonl"))
            client.log_artifact(run_id, str(folder / "experiment.json"))
        # last: a run cut short before this is found again and completed next time
        client.set_tag(run_id, FINISHED_TAG, tags[FINISHED_TAG])
        client.set_terminated(run_id, "FINISHED", end_time=_ms(record.finished_at))
    if ctx.report is not None:
        client.log_artifacts(run_id, str(ctx.report), "report")
    return action, run_id


def export_to_mlflow(
    db: str | Path,
    tracking_uri: str | None = None,
    experiment_name: str = DEFAULT_EXPERIMENT,
    report_dir: str | Path | None = None,
    experiment_ids: list[str] | None = None,
    on_run: Callable[[Any, str, str], None] | None = None,
    quiet: bool = False,
) -> TrackingSummary:
    """Export the store's finished experiments to MLflow (see the module docstring).

    ``tracking_uri`` None is MLflow's own default (``$MLFLOW_TRACKING_URI``, else a local
    ``sqlite:///mlflow.db``). ``on_run(record, name, action)`` is called per experiment with
    action ``created``, ``updated`` or ``unchanged``. ``quiet`` silences MLflow's INFO logging.
    """
    mlflow = import_mlflow(quiet)
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from bakeoff.baseline import majority_baseline
    from bakeoff.naming import experiment_names
    from bakeoff.samples import select_experiments
    from bakeoff.store import ResultsStore
    from bakeoff.tracking_target import check_target, first_request

    report = Path(report_dir).expanduser() if report_dir is not None else None
    if report is not None and not report.is_dir():
        raise BakeoffError(
            f"--report {report}: no such folder; write it first with `bakeoff report --out "
            f"{report}`"
        )
    store_path = Path(db)
    uri = tracking_uri or mlflow.get_tracking_uri()
    check_target(uri, store_path)  # before MLflow writes or retries anything
    with ResultsStore(store_path, readonly=True) as store:
        records = select_experiments(store, experiment_ids)
        if not records:
            raise BakeoffError(
                f"no finished experiments in {store_path} to export; run `bakeoff run` first"
            )
        names = experiment_names([(r.id, r.config) for r in store.experiments("done")])
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            with first_request():
                found = client.get_experiment_by_name(experiment_name)
            if found is not None and found.lifecycle_stage == "deleted":
                raise BakeoffError(
                    f"MLflow experiment '{experiment_name}' at {uri} was deleted; restore it in "
                    "MLflow or pass another --experiment-name"
                )
            ctx = _Context(
                client,
                found.experiment_id if found else client.create_experiment(experiment_name),
                store,
                store_path,
                report,
                _param_limit(mlflow),
            )
            summary = TrackingSummary(str(uri), experiment_name, ctx.mlflow_experiment)
            baselines: dict[str, Any] = {}
            for record in records:
                if record.dataset_key not in baselines:
                    baselines[record.dataset_key] = majority_baseline(
                        store.train_label_counts(record.dataset_key),
                        store.examples(record.dataset_key),
                        record.label_names,
                    )
                name = names.get(record.id, record.id)
                action, run_id = _log_experiment(ctx, record, name, baselines[record.dataset_key])
                getattr(summary, action).append(record.id)
                summary.runs[record.id] = run_id
                if on_run is not None:
                    on_run(record, name, action)
        except (MlflowException, OSError, ImportError) + _database_errors() as exc:
            raise _mlflow_error(str(uri), exc) from None
    return summary


__all__ = [
    "DEFAULT_EXPERIMENT",
    "EXPORT_SCHEMA",
    "FINISHED_TAG",
    "ID_TAG",
    "TrackingSummary",
    "export_to_mlflow",
    "import_mlflow",
    "run_metrics",
    "run_params",
    "run_tags",
]
