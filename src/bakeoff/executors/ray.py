"""Running a grid on a Ray cluster: workers compute, the driver alone writes the store.

Why Ray: users whose grids outgrow one machine already have a Ray cluster (it is what vLLM and
most ML platforms schedule on), so bakeoff plugs into it rather than shipping its own engine.

How a grid runs here:

- **One writer.** The driver (the process running ``bakeoff run``) takes each experiment's store
  lease (:func:`bakeoff.runner.begin`), sends the experiment to a worker, and stores the result
  that comes back (:func:`bakeoff.runner.finish`). Workers never see the SQLite file, so no shared
  file system is needed and the store keeps every guarantee it has with the local executor.
- **Data through the object store.** Each task's data (a user's own files included, already read
  by the driver) is put into Ray's object store once; a worker fetches it once and keeps it while
  it runs that task's experiments. Workers need only bakeoff installed.
- **Placement.** A pool of :class:`BakeoffWorker` actors, as many as the cluster's CPUs and GPUs
  allow at ``cpus_per_experiment`` / ``gpus_per_experiment`` each. A worker keeps taking the next
  experiment of the model it already has in memory; it moves to another model only when its own
  has none left, and joins a model another worker already serves only when that model has more
  experiments queued than workers on it. So a causal LM is loaded once per worker, not once per
  experiment (fine-tuning still loads fresh weights for each run, as it must).
- **Faults.** A worker that dies mid-experiment (killed process, lost node, out of memory) costs
  only that attempt: the experiment goes back to the front of its queue, a fresh worker is
  started, and the result is stored once, when an attempt completes (up to ``max_retries``
  retries). An experiment that raises fails alone and the grid goes on. Ctrl-C kills the workers,
  marks the experiments they were running ``interrupted`` and re-raises, so the caller reports
  what finished. A killed driver leaves leases that expire; the same command resumes.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import ray
from ray import exceptions as rex

from bakeoff.classifier import NullProgress, Progress
from bakeoff.config import ExperimentConfig
from bakeoff.data import TaskData
from bakeoff.errors import BakeoffError
from bakeoff.runner import (
    ExperimentResult,
    Outcome,
    OutcomeCallback,
    PlannedExperiment,
    StartCallback,
    begin,
    execute,
    finish,
)
from bakeoff.store import ResultsStore

#: errors meaning the worker process (or its node) is gone: the attempt is lost, not wrong
WORKER_LOST: tuple[type[BaseException], ...] = tuple(
    getattr(rex, name)
    for name in (
        "RayActorError",
        "WorkerCrashedError",
        "NodeDiedError",  # not in every Ray version
        "ObjectLostError",
        "OutOfMemoryError",
    )
    if hasattr(rex, name)
)
#: workers that die before ever becoming ready, in a row, before the run gives up: a node that
#: cannot import bakeoff would otherwise be retried forever
MAX_STARTUP_FAILURES = 3
#: how long the driver waits for a worker when none is alive (an autoscaler may add nodes)
WORKER_WAIT_S = 600.0
#: how long to wait for a head node's port to answer before saying it cannot be reached
PROBE_TIMEOUT_S = 10.0
#: how often the driver wakes while waiting, so Ctrl-C and lost workers are noticed promptly
POLL_S = 0.5


# -- counting model loads ------------------------------------------------------------------------

_load_count = [0]
_load_lock = threading.Lock()


def install_load_counter() -> None:
    """Count every model read from disk or the hub in this process (``from_pretrained`` of any
    transformers model: encoders, causal LMs, sentence-transformers' backbones). The count, not a
    method's own claims, is what "a model is loaded once per worker" is checked against."""
    from transformers import PreTrainedModel

    original = PreTrainedModel.from_pretrained
    if getattr(original, "_bakeoff_counted", False):
        return
    func = original.__func__  # type: ignore[attr-defined]
    depth = threading.local()

    def counted(cls: Any, *args: Any, **kwargs: Any) -> Any:
        # a from_pretrained that calls another (a wrapper model) is still one load
        outer = not getattr(depth, "n", 0)
        if outer:
            with _load_lock:
                _load_count[0] += 1
        depth.n = getattr(depth, "n", 0) + 1
        try:
            return func(cls, *args, **kwargs)
        finally:
            depth.n -= 1

    counted._bakeoff_counted = True  # type: ignore[attr-defined]
    PreTrainedModel.from_pretrained = classmethod(counted)  # type: ignore[method-assign,assignment]


def model_loads() -> int:
    """Models loaded in this process since :func:`install_load_counter`."""
    return _load_count[0]


@contextmanager
def counting_model_loads() -> Iterator[list[int]]:
    """``with counting_model_loads() as n:`` then ``n[0]`` is the loads inside the block (used by
    benchmarks/ray_grid.py to count the local executor's loads the same way)."""
    install_load_counter()
    before = model_loads()
    box = [0]
    try:
        yield box
    finally:
        box[0] = model_loads() - before


def ray_init_options(address: str = "local") -> dict[str, Any]:
    """``ray.init`` keywords for bakeoff's driver: no dashboard, and no worker output in the
    terminal (progress comes from the driver). A local instance also runs its workers at normal
    priority: Ray starts workers at nice 15 to keep its own daemons responsive, which on a shared
    machine starves them behind every other process, and a local instance stands in for the
    local executor, which runs at normal priority. A cluster keeps the settings it was started
    with."""
    options: dict[str, Any] = dict(
        include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR
    )
    if address == "local":
        options["_system_config"] = {"worker_niceness": 0}
    return options


# -- the worker ----------------------------------------------------------------------------------


@dataclass
class WorkerReply:
    """What a worker sends back for one experiment: a result, or why it failed."""

    status: Literal["done", "failed"]
    result: ExperimentResult | None
    #: the one-line error for the user (``BakeoffError`` text, or ``Type: message``)
    error: str | None
    #: what the store keeps for a failure: the message, or the traceback of an unexpected error
    detail: str | None
    #: models this experiment loaded from disk or the hub in the worker (0 = reused in memory)
    model_loads: int
    pid: int
    node: str


class BakeoffWorker:
    """One worker process: runs experiments one after another, keeping the last model and the last
    task's data in memory. ``ray.remote`` is applied when the pool starts it, so importing this
    module never needs a running cluster. In ``ps`` its process shows as ``ray::BakeoffWorker``."""

    def __init__(self) -> None:
        # a worker given no GPU must not grab one Ray did not assign to it
        if not ray.get_gpu_ids():
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        self._data_key: str | None = None
        self._data: TaskData | None = None

    def hello(self) -> tuple[int, str]:
        """Its pid and node: answered once it is up, before any work is sent to it."""
        return os.getpid(), ray.get_runtime_context().get_node_id()

    def run(
        self,
        config: ExperimentConfig,
        dataset_key: str,
        data_box: list[Any],
        eval_indices: list[int],
    ) -> WorkerReply:
        """Run one experiment (no store here). ``data_box`` holds the data's object reference in a
        list, so Ray does not fetch and unpickle the data again for every experiment of a task."""
        pid, node = self.hello()
        if self._data_key != dataset_key:
            self._data = None  # the previous task's data is not kept beside the next
            self._data = ray.get(data_box[0])
            self._data_key = dataset_key
        assert self._data is not None
        experiment = PlannedExperiment(config, self._data, list(eval_indices))
        install_load_counter()
        before = model_loads()
        try:
            result = execute(experiment, NullProgress())
        except BakeoffError as exc:
            return WorkerReply(
                "failed", None, str(exc), str(exc), model_loads() - before, pid, node
            )
        except Exception as exc:  # the grid goes on; the traceback is kept in the store
            return WorkerReply(
                "failed",
                None,
                f"{type(exc).__name__}: {exc}",
                traceback.format_exc(),
                model_loads() - before,
                pid,
                node,
            )
        return WorkerReply("done", result, None, None, model_loads() - before, pid, node)


# -- the driver ----------------------------------------------------------------------------------


@dataclass
class WorkerStats:
    """One worker's share of a run: how many experiments it ran and how many models it loaded."""

    pid: int | None
    node: str | None
    experiments: int = 0
    model_loads: int = 0
    models: list[str] = field(default_factory=list)


@dataclass
class RayRunStats:
    """What happened on the cluster during one ``RayExecutor.run`` (also noted to the user)."""

    workers: list[WorkerStats] = field(default_factory=list)
    #: experiment id -> attempts lost to a dead worker
    retries: dict[str, int] = field(default_factory=dict)
    worker_deaths: int = 0

    @property
    def experiments(self) -> int:
        return sum(w.experiments for w in self.workers)

    @property
    def model_loads(self) -> int:
        return sum(w.model_loads for w in self.workers)

    @property
    def loads_per_experiment(self) -> float:
        return self.model_loads / self.experiments if self.experiments else 0.0


@dataclass
class _Worker:
    actor: Any
    stats: WorkerStats
    hello: Any = None  # the pending hello() reference until the worker is up
    model: str | None = None  # the model it has (or is about to have) in memory
    ready: bool = False


def _first_line(exc: BaseException) -> str:
    """A Ray error's useful line: the cause's last line (Ray's own text spans many lines)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return (lines[-1] if lines else type(exc).__name__)[:300]


@contextmanager
def _quiet_ray() -> Iterator[None]:
    """Keep Ray's own messages (a dead worker's multi-line report from the raylet) out of the
    terminal while the grid's progress display owns it; bakeoff notes each death in one line
    and stores the full error with the experiment. Ray has no public switch for these, so this
    uses the flag its own debugger uses, where it exists."""
    module = getattr(getattr(ray, "_private", None), "worker", None)
    if module is None or not hasattr(module, "_worker_logs_enabled"):
        yield
        return
    before = module._worker_logs_enabled
    module._worker_logs_enabled = False
    try:
        yield
    finally:
        module._worker_logs_enabled = before


def _probe(address: str) -> None:
    """Fail at once when nothing listens at ``host:port``: Ray itself keeps retrying an
    unreachable head node for minutes, printing raw connection warnings."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S):
            pass
    except (OSError, ValueError) as exc:
        raise BakeoffError(
            f"cannot reach a Ray head node at {address} ({exc}); check the address `ray start "
            "--head` printed, or leave out --ray-address for a local Ray instance"
        ) from None


class RayExecutor:
    """Runs experiments on a Ray cluster (see the module docstring for how, and why).

    ``address``: None starts a local Ray instance (or joins ``$RAY_ADDRESS`` where set, as under
    ``ray job submit``); ``"auto"`` joins the cluster this machine belongs to; ``"host:port"``
    joins that head node. ``gpus_per_experiment`` None means one GPU per experiment where the
    cluster has GPUs (and the grid does not ask for ``--device cpu``), else none; fractions share
    a GPU. ``max_workers`` caps the pool below what the cluster would fit.
    """

    def __init__(
        self,
        address: str | None = None,
        cpus_per_experiment: float = 1,
        gpus_per_experiment: float | None = None,
        max_retries: int = 2,
        max_workers: int | None = None,
    ) -> None:
        if cpus_per_experiment <= 0:
            raise BakeoffError(
                f"Ray CPUs per experiment must be above 0, got {cpus_per_experiment}; e.g. 1"
            )
        if gpus_per_experiment is not None and gpus_per_experiment < 0:
            raise BakeoffError(
                f"Ray GPUs per experiment cannot be negative, got {gpus_per_experiment}; "
                "e.g. 1, 0.5, or 0 for CPU only"
            )
        if address is not None and address not in ("auto", "local") and ":" not in address:
            raise BakeoffError(
                f"--ray-address {address!r}: expected auto or host:port, e.g. 10.0.0.5:6379; "
                "leave it out for a local Ray instance"
            )
        self.address = address
        self.cpus_per_experiment = cpus_per_experiment
        self.gpus_per_experiment = gpus_per_experiment
        self.max_retries = max_retries
        self.max_workers = max_workers
        #: the last run's workers, retries and model loads
        self.stats = RayRunStats()
        self._lock = threading.Lock()
        self._running: dict[str, int | None] = {}

    # -- introspection (progress, tests, fault drills) --------------------------------------------

    def in_flight(self) -> dict[str, int | None]:
        """Experiment id -> pid of the worker running it, for experiments running right now."""
        with self._lock:
            return dict(self._running)

    # -- connecting ------------------------------------------------------------------------------

    def _connect(self) -> bool:
        """Join or start Ray; True when this call started it (so ``run`` shuts it down after)."""
        if ray.is_initialized():
            return False
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        if address not in ("auto", "local"):
            _probe(address)
        try:
            ray.init(address=address, ignore_reinit_error=True, **ray_init_options(address))
        except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
            where = "this machine's cluster" if address == "auto" else address
            raise BakeoffError(
                f"cannot join a Ray cluster at {where} ({_first_line(exc)}); start one with "
                "`ray start --head`, or leave out --ray-address for a local Ray instance"
            ) from None
        return True

    def _resources(self, experiments: Sequence[PlannedExperiment]) -> tuple[float, float, int]:
        """(CPUs, GPUs) per worker and how many workers the cluster fits at once."""
        total = ray.cluster_resources()
        cpus, gpus_here = float(total.get("CPU", 0)), float(total.get("GPU", 0))
        devices = {e.config.device for e in experiments}
        gpus = self.gpus_per_experiment
        if gpus is None:
            gpus = 1.0 if gpus_here and devices != {"cpu"} else 0.0
        if any(d.startswith("cuda:") for d in devices) and gpus:
            raise BakeoffError(
                "--device cuda:N with --executor ray: Ray gives each worker its own GPU, seen as "
                "cuda:0; use --device auto or cuda"
            )
        if gpus and gpus > gpus_here:
            raise BakeoffError(
                f"each experiment asks for {gpus:g} GPU(s) but the Ray cluster has {gpus_here:g}; "
                "add GPU nodes, or run CPU-only with --device cpu"
            )
        if self.cpus_per_experiment > cpus:
            raise BakeoffError(
                f"each experiment asks for {self.cpus_per_experiment:g} CPU(s) but the Ray cluster "
                f"has {cpus:g}; ask for fewer CPUs per experiment"
            )
        fits = math.floor(cpus / self.cpus_per_experiment + 1e-9)
        if gpus:
            fits = min(fits, math.floor(gpus_here / gpus + 1e-9))
        if self.max_workers:
            fits = min(fits, self.max_workers)
        return self.cpus_per_experiment, gpus, max(1, min(fits, len(experiments)))

    # -- running ---------------------------------------------------------------------------------

    def run(
        self,
        experiments: Sequence[PlannedExperiment],
        store: ResultsStore,
        progress: Progress | None = None,
        on_outcome: OutcomeCallback | None = None,
        on_start: StartCallback | None = None,
    ) -> list[Outcome]:
        """Run ``experiments`` on the cluster; returns their outcomes in the order they finished.
        Only this process writes ``store``."""
        self.stats = RayRunStats()
        if not experiments:
            return []
        started_ray = self._connect()
        try:
            with _quiet_ray():
                return _Run(
                    self, experiments, store, progress or NullProgress(), on_outcome, on_start
                )()
        finally:
            with self._lock:
                self._running.clear()
            if started_ray:
                ray.shutdown()


class _Run:
    """One ``RayExecutor.run``: the scheduling loop and its bookkeeping."""

    def __init__(
        self,
        owner: RayExecutor,
        experiments: Sequence[PlannedExperiment],
        store: ResultsStore,
        progress: Progress,
        on_outcome: OutcomeCallback | None,
        on_start: StartCallback | None,
    ) -> None:
        self.owner = owner
        self.store = store
        self.progress = progress
        self.on_outcome = on_outcome
        self.on_start = on_start
        self.cpus, self.gpus, self.slots = owner._resources(experiments)
        self.remote_class = ray.remote(BakeoffWorker)
        # model-major queues, in the planned order
        self.queues: dict[str, deque[PlannedExperiment]] = {}
        for exp in experiments:
            self.queues.setdefault(exp.config.model, deque()).append(exp)
        self.workers: list[_Worker] = []
        self.inflight: dict[Any, tuple[_Worker, PlannedExperiment]] = {}
        self.begun: set[str] = set()  # leases taken by this run and not yet released
        self.data_refs: dict[str, Any] = {}
        self.outcomes: list[Outcome] = []
        self.startup_failures = 0
        self.no_worker_since: float | None = None

    # -- helpers ---------------------------------------------------------------------------------

    def _emit(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        self.begun.discard(outcome.experiment.id)
        if self.on_outcome:
            self.on_outcome(outcome)

    def _fail(self, exp: PlannedExperiment, error: str, detail: str | None = None) -> None:
        self.store.fail(exp.id, detail or error)
        self._emit(Outcome(exp, "failed", error=error))

    def _start_worker(self) -> None:
        actor: Any = self.remote_class.options(
            num_cpus=self.cpus,
            num_gpus=self.gpus,
            max_restarts=0,  # a dead worker is replaced by this loop, never silently
            max_task_retries=0,
        ).remote()
        worker = _Worker(actor, WorkerStats(pid=None, node=None))
        worker.hello = actor.hello.remote()
        self.workers.append(worker)
        self.owner.stats.workers.append(worker.stats)

    def _drop_worker(self, worker: _Worker) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        try:
            ray.kill(worker.actor, no_restart=True)
        except Exception:  # already gone
            pass

    def _alive(self) -> int:
        return len(self.workers)

    def _queued(self) -> int:
        return sum(len(q) for q in self.queues.values())

    def _serving(self, model: str) -> int:
        return sum(1 for w in self.workers if w.model == model)

    def _next_for(self, worker: _Worker) -> PlannedExperiment | None:
        """The next experiment for an idle worker: its own model's first; else a model nobody
        serves; else one with more experiments queued than workers on it (another load of that
        model is then worth the parallelism); else nothing (the worker waits, or is retired)."""
        own = self.queues.get(worker.model or "")
        if own:
            return own.popleft()
        best: tuple[int, int] | None = None
        choice = None
        for model, queue in self.queues.items():
            if not queue:
                continue
            serving = self._serving(model)
            if serving and len(queue) <= serving:
                continue
            key = (serving, -len(queue))
            if best is None or key < best:
                best, choice = key, model
        if choice is None:
            return None
        worker.model = choice
        return self.queues[choice].popleft()

    def _data_ref(self, exp: PlannedExperiment) -> Any:
        key = exp.dataset_key
        if key not in self.data_refs:
            self.data_refs[key] = ray.put(exp.data)
        return self.data_refs[key]

    def _dispatch(self, worker: _Worker) -> bool:
        """Give the idle ``worker`` its next experiment; False when there is none for it."""
        while True:
            exp = self._next_for(worker)
            if exp is None:
                return False
            if exp.id not in self.begun:  # a retry keeps the lease it already holds
                if not begin(exp, self.store):
                    self._emit(Outcome(exp, "busy", error="another process is running it"))
                    continue
                self.begun.add(exp.id)
                if self.on_start:
                    self.on_start(exp)
            ref = worker.actor.run.remote(
                exp.config, exp.dataset_key, [self._data_ref(exp)], exp.eval_indices
            )
            self.inflight[ref] = (worker, exp)
            with self.owner._lock:
                self.owner._running[exp.id] = worker.stats.pid
            return True

    # -- events ----------------------------------------------------------------------------------

    def _on_hello(self, worker: _Worker) -> None:
        try:
            pid, node = ray.get(worker.hello)
        except rex.RayError as exc:
            self._drop_worker(worker)
            self.startup_failures += 1
            if self.startup_failures >= MAX_STARTUP_FAILURES:
                raise BakeoffError(
                    f"Ray workers fail to start ({_first_line(exc)}); check that bakeoff is "
                    "installed on every node, in the same Python version as here"
                ) from None
            return
        worker.hello, worker.ready = None, True
        worker.stats.pid, worker.stats.node = pid, node
        self.startup_failures = 0

    def _on_result(self, ref: Any) -> None:
        worker, exp = self.inflight.pop(ref)
        with self.owner._lock:
            self.owner._running.pop(exp.id, None)
        try:
            reply: WorkerReply = ray.get(ref)
        except WORKER_LOST as exc:
            self._lost(worker, exp, exc)
            return
        except rex.RayError as exc:  # e.g. a result that cannot travel back: this one fails
            self._fail(exp, f"Ray could not run it: {_first_line(exc)}", str(exc))
            return
        stats = worker.stats
        stats.experiments += 1
        stats.model_loads += reply.model_loads
        if exp.config.model not in stats.models:
            stats.models.append(exp.config.model)
        if reply.status == "failed":
            self._fail(exp, reply.error or "failed", reply.detail)
            return
        assert reply.result is not None
        try:
            outcome = finish(exp, self.store, reply.result)
        except BakeoffError as exc:
            self._fail(exp, str(exc))
            return
        self._emit(outcome)

    def _lost(self, worker: _Worker, exp: PlannedExperiment, exc: BaseException) -> None:
        """The worker died under ``exp``: retry it on another worker, or fail it after too many."""
        self._drop_worker(worker)
        stats = self.owner.stats
        stats.worker_deaths += 1
        tries = stats.retries.get(exp.id, 0) + 1
        stats.retries[exp.id] = tries
        label = exp.config.label
        where = f"pid {worker.stats.pid}" if worker.stats.pid else "a worker"
        if tries > self.owner.max_retries:
            self._fail(
                exp,
                f"the Ray worker running it died {tries} times (last: {_first_line(exc)}); see "
                "the Ray logs (out of memory?)",
                f"worker died {tries} times: {exc}",
            )
            return
        self.progress.note(
            f"Ray worker ({where}) died while running {label}; retrying it on a fresh worker "
            f"({tries}/{self.owner.max_retries}); why it died is in the Ray logs of its node"
        )
        self.queues[exp.config.model].appendleft(exp)

    # -- the loop --------------------------------------------------------------------------------

    def __call__(self) -> list[Outcome]:
        try:
            for _ in range(self.slots):
                self._start_worker()
            while self.inflight or self._queued():
                self._top_up()
                busy = {id(w) for w, _ in self.inflight.values()}
                for worker in [w for w in self.workers if w.ready and id(w) not in busy]:
                    if not self._dispatch(worker) and not self._queued():
                        self._drop_worker(worker)  # nothing left for anyone: free its resources
                self._check_starved()
                waits = list(self.inflight) + [w.hello for w in self.workers if w.hello]
                if not waits:
                    continue
                ready, _ = ray.wait(waits, num_returns=1, timeout=POLL_S)
                for ref in ready:
                    hello_of = next((w for w in self.workers if w.hello == ref), None)
                    if hello_of is not None:
                        self._on_hello(hello_of)
                    elif ref in self.inflight:
                        self._on_result(ref)
        except KeyboardInterrupt:
            self._abort("interrupted")
            raise
        except BaseException as exc:
            self._abort(str(exc) or type(exc).__name__)
            raise
        finally:
            for worker in list(self.workers):
                self._drop_worker(worker)
        self._summarise()
        return self.outcomes

    def _top_up(self) -> None:
        """Replace dead workers while work is queued, up to the pool size."""
        want = min(self.slots, self._queued() + len(self.inflight))
        while self._alive() < want:
            self._start_worker()

    def _check_starved(self) -> None:
        """No worker has been up for ``WORKER_WAIT_S`` while work waits: give up clearly."""
        if any(w.ready for w in self.workers):
            self.no_worker_since = None
            return
        now = time.monotonic()
        if self.no_worker_since is None:
            self.no_worker_since = now
        elif now - self.no_worker_since > WORKER_WAIT_S:
            raise BakeoffError(
                f"no Ray worker could start for {WORKER_WAIT_S:.0f} s (each needs "
                f"{self.cpus:g} CPU and {self.gpus:g} GPU); check `ray status` for free resources"
            )

    def _abort(self, reason: str) -> None:
        """Ctrl-C or a fatal error: stop the cluster work and mark what was running."""
        for worker in list(self.workers):
            self._drop_worker(worker)
        for exp_id in list(self.begun):
            try:
                self.store.fail(exp_id, reason)
            except BakeoffError:
                pass  # the lease expires by itself; the next run takes it over
        self.begun.clear()
        self.inflight.clear()

    def _summarise(self) -> None:
        stats = self.owner.stats
        used = [w for w in stats.workers if w.experiments]
        if not used:
            return
        retried = len(stats.retries)
        self.progress.note(
            f"Ray: {stats.experiments} experiment(s) on {len(used)} worker(s), "
            f"{stats.model_loads} model load(s)"
            + (f"; {retried} retried after a worker died" if retried else "")
        )
