"""One small grid run by the local executor and by the Ray executor on this machine: wall time of
each, their ratio, models loaded per experiment, and whether the predictions agree.

The local executor runs experiments one after another, each using every core (torch's default
threads); the Ray executor runs a pool of workers (``--cpus-per-experiment`` cores each, which
Ray passes to torch as OMP_NUM_THREADS) side by side on a local Ray instance, whose start-up is
timed separately. Both count model loads the same way (every
``from_pretrained`` in the process that runs the experiment).

    python benchmarks/ray_grid.py --data-dir ../shared/data

On a shared or busy machine the figures are noise: the script prints /proc/loadavg before and
after so a reader can tell.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None, help="JSON Lines data (else the hub)")
    parser.add_argument("--tasks", default="rte,sst2")
    parser.add_argument("--models", default="minilm,smollm2-135m")
    parser.add_argument("--methods", default="finetune,zero-shot,few-shot")
    parser.add_argument("--train-limit", type=int, default=64)
    parser.add_argument("--eval-limit", type=int, default=64)
    parser.add_argument("--latency-samples", type=int, default=8)
    parser.add_argument("--epochs", type=float, default=1)
    parser.add_argument("--cpus-per-experiment", type=float, default=1)
    parser.add_argument(
        "--ray-address", default=None, help="join this cluster instead of a local instance"
    )
    parser.add_argument(
        "--ray-first",
        action="store_true",
        help="run the Ray executor first (on a machine whose load drifts, swap the order to see "
        "how much it matters)",
    )
    args = parser.parse_args()

    import ray

    from bakeoff.config import make_grid
    from bakeoff.executors.ray import RayExecutor, counting_model_loads, ray_init_options
    from bakeoff.runner import LocalExecutor, plan
    from bakeoff.store import ResultsStore

    grid = make_grid(
        dict(
            tasks=args.tasks.split(","),
            models=args.models.split(","),
            methods=args.methods.split(","),
            data_dir=args.data_dir,
            train_limit=args.train_limit,
            eval_limit=args.eval_limit,
            latency_samples=args.latency_samples,
            finetune={"epochs": args.epochs},
        )
    )
    experiments = plan(grid)
    print(f"grid: {len(experiments)} experiments ({args.tasks} x {args.models} x {args.methods})")
    print(f"loadavg before: {loadavg()}")
    work = Path(tempfile.mkdtemp(prefix="bakeoff-ray-bench-"))

    def run_local() -> tuple[list, float, int]:
        with ResultsStore(work / "local.db") as store, counting_model_loads() as loads:
            t0 = time.perf_counter()
            outcomes = LocalExecutor().run(experiments, store)
            elapsed = time.perf_counter() - t0
        return outcomes, elapsed, loads[0]

    def run_ray() -> tuple[list, float, float, RayExecutor]:
        t0 = time.perf_counter()
        address = args.ray_address or "local"
        ray.init(address=address, **ray_init_options(address))
        start_s = time.perf_counter() - t0
        executor = RayExecutor(
            address=args.ray_address, cpus_per_experiment=args.cpus_per_experiment
        )
        with ResultsStore(work / "ray.db") as store:
            t0 = time.perf_counter()
            outcomes = executor.run(experiments, store)
            elapsed = time.perf_counter() - t0
        ray.shutdown()
        return outcomes, elapsed, start_s, executor

    if args.ray_first:
        remote, ray_s, start_s, executor = run_ray()
        local, local_s, local_loads = run_local()
    else:
        local, local_s, local_loads = run_local()
        remote, ray_s, start_s, executor = run_ray()
    stats = executor.stats

    agree = 0
    with (
        ResultsStore(work / "local.db", readonly=True) as a,
        ResultsStore(work / "ray.db", readonly=True) as b,
    ):
        for exp in experiments:
            pa = [p.pred for p in a.predictions(exp.id)]
            pb = [p.pred for p in b.predictions(exp.id)]
            agree += bool(pa) and pa == pb

    n = len(experiments)
    failed = [o for o in local + remote if o.status != "done"]
    print(
        f"loadavg after:  {loadavg()}  (order: {'ray, local' if args.ray_first else 'local, ray'})"
    )
    print(f"local executor: {local_s:7.1f} s, {local_loads / n:.2f} model loads/experiment")
    print(
        f"ray executor:   {ray_s:7.1f} s on {len([w for w in stats.workers if w.experiments])} "
        f"worker(s) of {args.cpus_per_experiment:g} CPU, {stats.loads_per_experiment:.2f} model "
        f"loads/experiment (+{start_s:.1f} s to start Ray)"
    )
    print(
        f"ratio ray/local: {ray_s / local_s:.2f} (with Ray's start: {(ray_s + start_s) / local_s:.2f})"
    )
    for w in stats.workers:
        if w.experiments:
            print(
                f"  worker pid {w.pid}: {w.experiments} experiment(s), {w.model_loads} load(s), "
                f"models {', '.join(w.models)}"
            )
    print(f"identical predictions: {agree}/{n} experiments; failed: {len(failed)}")
    for o in failed:
        print(f"  failed {o.experiment.config.label}: {o.error}")
    print(f"stores kept in {work}")


if __name__ == "__main__":
    main()
