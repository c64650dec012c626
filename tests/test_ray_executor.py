"""The Ray executor on a local 2-CPU Ray instance: same predictions as the local executor, a
worker killed mid-experiment costs nothing but a retry, and a missing extra is one line.

One Ray instance serves the whole module (starting one takes seconds). The grid has two model
groups: a tiny BERT fine-tuned, and a tiny Llama prompted zero- and few-shot, so
the test also sees a worker keep its causal LM across experiments.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bakeoff.config import make_grid
from bakeoff.runner import LocalExecutor, PlannedExperiment, plan
from bakeoff.store import ResultsStore
from tests.llm_fixtures import tiny_llama_path


def _grid(data_dir: Path, model: Path, methods: list[str]) -> Any:
    return make_grid(
        dict(
            tasks=["rte"],
            models=[str(model)],
            methods=methods,
            data_dir=str(data_dir),
            train_limit=32,
            eval_limit=16,
            latency_samples=2,
            seed=1,
            finetune={"epochs": 1},
            prompt={"k": 2},
        )
    )


@pytest.fixture(scope="module")
def ray_instance() -> Any:
    ray = pytest.importorskip("ray")
    from bakeoff.executors.ray import ray_init_options

    ray.init(address="local", num_cpus=2, **ray_init_options("local"))
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def experiments(
    data_dir: Path, tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory
) -> list[PlannedExperiment]:
    """bert x finetune, llama x zero-shot, llama x few-shot, and last an experiment whose model
    folder vanishes after planning (as a path missing on a worker node would): it must fail
    alone, with its one-line error, while the grid goes on."""
    import shutil

    gone = tmp_path_factory.mktemp("gone") / "bert"
    shutil.copytree(tiny_bert, gone)
    # model folders have no declared kind, so each kind gets its own grid
    planned = (
        plan(_grid(data_dir, tiny_bert, ["finetune"]))
        + plan(_grid(data_dir, tiny_llama_path(), ["zero-shot", "few-shot"]))
        + plan(_grid(data_dir, gone, ["finetune"]))
    )
    shutil.rmtree(gone)
    assert len(planned) == 4
    return planned


def _expected(experiments: list) -> dict[str, str]:
    return {e.id: "failed" if "gone" in e.config.model else "done" for e in experiments}


@pytest.fixture(scope="module")
def local_store(tmp_path_factory: pytest.TempPathFactory, experiments: list) -> Path:
    """The grid run by the local executor, with one torch thread: Ray gives a 1-CPU worker
    OMP_NUM_THREADS=1, and the same thread count makes the two runs' sums add up identically."""
    import torch

    path = tmp_path_factory.mktemp("local") / "local.db"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ResultsStore(path) as store:
            outcomes = LocalExecutor().run(experiments, store)
    finally:
        torch.set_num_threads(threads)
    assert {o.experiment.id: o.status for o in outcomes} == _expected(experiments)
    return path


def _same_results(a: ResultsStore, b: ResultsStore, experiments: list) -> None:
    """Same statuses; for each finished experiment the same predictions and scores."""
    assert a.statuses() == b.statuses() == _expected(experiments)
    for exp in experiments:
        if "gone" in exp.config.model:
            assert a.predictions(exp.id) == b.predictions(exp.id) == []
            continue
        pa, pb = a.predictions(exp.id), b.predictions(exp.id)
        assert len(pa) == len(pb) == 16
        assert [(p.idx, p.gold, p.pred) for p in pa] == [(p.idx, p.gold, p.pred) for p in pb]
        for x, y in zip(pa, pb):
            assert x.scores == pytest.approx(y.scores, abs=1e-5)


def test_ray_grid_matches_local(
    ray_instance: Any, experiments: list, local_store: Path, tmp_path: Path
) -> None:
    from bakeoff.executors.ray import RayExecutor

    executor = RayExecutor(cpus_per_experiment=1)
    started: list[str] = []
    finished: list[str] = []
    with ResultsStore(tmp_path / "ray.db") as store:
        outcomes = executor.run(
            experiments,
            store,
            on_start=lambda e: started.append(e.id),
            on_outcome=lambda o: finished.append(o.experiment.id),
        )
        assert {o.experiment.id: o.status for o in outcomes} == _expected(experiments)
        [failed] = [o for o in outcomes if o.status == "failed"]
        assert "does not exist" in failed.error and "\n" not in failed.error
        assert sorted(started) == sorted(finished) == sorted(e.id for e in experiments)
        with ResultsStore(local_store, readonly=True) as local:
            _same_results(local, store, experiments)
        [record] = store.experiments("failed")
        assert record.error == failed.error
    stats = executor.stats
    assert stats.worker_deaths == 0 and not stats.retries
    assert stats.experiments == 4 and len(stats.workers) == 2
    # the two prompted experiments ran on one worker, which loaded the causal LM once; the
    # fine-tuning run loaded its weights once; the vanished model loaded nothing
    llama = str(tiny_llama_path())
    assert len([w for w in stats.workers if llama in w.models]) == 1
    assert stats.model_loads == 2


def test_worker_killed_mid_experiment_is_retried_and_stored_once(
    ray_instance: Any, experiments: list, local_store: Path, tmp_path: Path
) -> None:
    from bakeoff.executors.ray import RayExecutor

    executor = RayExecutor(cpus_per_experiment=1)
    killed: dict[str, int] = {}
    stop = threading.Event()

    def assassin() -> None:
        # the first experiment a fresh worker runs includes importing torch and transformers,
        # seconds of work: killing it as soon as it is dispatched lands mid-experiment
        while not stop.is_set() and not killed:
            for exp_id, pid in executor.in_flight().items():
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    killed[exp_id] = pid
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=assassin, daemon=True)
    thread.start()
    db = tmp_path / "ray.db"
    try:
        with ResultsStore(db) as store:
            outcomes = executor.run(experiments, store)
    finally:
        stop.set()
        thread.join()
    assert len(killed) == 1, "no worker was killed"
    [(victim, pid)] = killed.items()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the worker really is gone
    stats = executor.stats
    assert stats.worker_deaths == 1 and stats.retries == {victim: 1}
    assert len(stats.workers) == 3  # the pool of two, and the replacement
    assert {o.experiment.id: o.status for o in outcomes} == _expected(experiments)
    assert sorted(o.experiment.id for o in outcomes) == sorted(e.id for e in experiments)
    with ResultsStore(db) as store, ResultsStore(local_store, readonly=True) as local:
        assert store.integrity_ok()
        records = store.experiments(None)
        assert sorted(r.id for r in records) == sorted(e.id for e in experiments)
        assert all(r.attempts == 1 for r in records)
        _same_results(local, store, experiments)  # the retried experiment included


def test_missing_ray_extra_is_one_line_and_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path, tiny_bert: Path
) -> None:
    import sys

    from bakeoff.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    db = tmp_path / "b.db"
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--task", "rte",
            "--model", str(tiny_bert),
            "--data-dir", str(data_dir),
            "--executor", "ray",
            "--db", str(db),
        ],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "bakeoff[ray]" in lines[0], result.output
    assert not db.exists()


def test_resources_per_experiment_reach_the_executor(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from bakeoff.cli import app
    from bakeoff.runner import get_executor

    grid = make_grid(
        {"tasks": ["sst2"], "models": ["minilm"], "executor": "ray", "ray_cpus": 2, "ray_gpus": 0.5}
    )
    executor = get_executor(grid)
    assert executor.cpus_per_experiment == 2 and executor.gpus_per_experiment == 0.5
    default = get_executor(make_grid({"tasks": ["sst2"], "models": ["minilm"], "executor": "ray"}))
    assert default.cpus_per_experiment == 1 and default.gpus_per_experiment is None
    bad = CliRunner().invoke(
        app,
        ["run", "--task", "sst2", "--model", "minilm", "--executor", "ray", "--ray-cpus", "0",
         "--db", str(tmp_path / "b.db")],
    )  # fmt: skip
    assert bad.exit_code == 2 and "ray" in bad.output.lower() and "Traceback" not in bad.output
    assert not (tmp_path / "b.db").exists()
