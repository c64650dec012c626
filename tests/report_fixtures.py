"""A results store with planted predictions, for the stats, report and browser tests.

The numbers are test inputs chosen so the expected statistics can be computed by hand:

sst2 (40 examples, gold alternates negative/positive):
  minilm · finetune        wrong on {0,1,2,3}              36/40
  smollm2-135m · zero-shot right only on 20..39; invalid   20/40
                           answers on 0..4
  smollm2-135m · few-shot  wrong on {0,1,4,5,6,7}          34/40
  finetune vs few-shot: 4 vs 2 discordant -> p = 44/64; finetune vs zero-shot: 16 vs 0 ->
  p = 2/2**16; few-shot vs zero-shot: 14 vs 0 -> p = 2/2**14. After Holm: finetune leads, tied
  with few-shot, so sst2 has no single winner.
rte (30 sentence pairs):
  minilm · finetune        wrong on {0}                    29/30
  smollm2-135m · zero-shot right only on 0..9              10/30
  20 vs 1 discordant -> p = 44/2**21: finetune wins rte.

Example texts 0 and 1 of sst2 carry HTML/script payloads (every model gets them wrong, so they
are on the challenge page) to check that dataset text is never executed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bakeoff.classifier import INVALID, Predictions
from bakeoff.config import ExperimentConfig, PromptSettings
from bakeoff.data import Example
from bakeoff.methods import get_method_spec
from bakeoff.metrics import compute_metrics
from bakeoff.records import Timing, TrainingRecord
from bakeoff.store import ResultsStore

SCRIPT_PAYLOAD = "<script>window.__pwned=1</script> a film that defies </script> description"
IMG_PAYLOAD = 'clever & <img src=x onerror="window.__pwned=1"> odd\u2028line'

SST2_LABELS = ["negative", "positive"]
RTE_LABELS = ["entailment", "not_entailment"]
SST2_KEY = "sst2:fp-sst2:validation"
RTE_KEY = "rte:fp-rte:validation"

FT_TRAIN_S = 7200.0  # two device-hours of fine-tuning: makes volume matter in the advice


def timing(
    throughput: float, median_ms: float, p95_ms: float, memory_mb: float, device: str = "cpu"
) -> Timing:
    return Timing(
        n_examples=0,
        batch_size=32,
        total_s=0.0,
        throughput_per_s=throughput,
        latency_median_ms=median_ms,
        latency_p95_ms=p95_ms,
        latency_n=64,
        peak_memory_mb=memory_mb,
        memory_kind="gpu_max_allocated" if device.startswith("cuda") else "process_peak_rss",
        device=device,
    )


def add_experiment(
    store: ResultsStore,
    *,
    task: str,
    dataset_key: str,
    labels: Sequence[str],
    model: str,
    method: str,
    gold: Sequence[int],
    wrong: set[int],
    indices: Sequence[int] | None = None,
    invalid: set[int] = frozenset(),  # type: ignore[assignment]
    with_scores: bool = True,
    timing_dict: Timing | None = None,
    training: TrainingRecord | None = None,
    k: int = 5,
    eval_limit: int | None = None,
    seed: int = 99,
    train_limit: int | None = None,
) -> str:
    """Store one finished experiment whose answers are right except on ``wrong`` (positions).

    ``seed`` and ``train_limit`` go into its configuration (a label-budget curve is several
    ``train_limit`` values, each with several seeds); pass ``training`` with the matching
    ``labels_used``.
    """
    indices = list(indices if indices is not None else range(len(gold)))
    spec = get_method_spec(method)
    settings = (
        spec.settings_model()
        if spec.settings_model is not PromptSettings
        else PromptSettings(k=0 if method == "zero-shot" else k)
    )
    config = ExperimentConfig(
        task=task,
        data_fingerprint=dataset_key.split(":")[1],
        eval_split="validation",
        model=model,
        method=method,
        settings=settings,
        eval_limit=eval_limit,
        seed=seed,
        train_limit=train_limit,
    )
    eid = config.experiment_id()
    n_labels = len(labels)
    preds, scores, raw = [], [], []
    for pos, g in enumerate(gold):
        if pos in invalid:
            p = INVALID
        elif pos in wrong:
            p = (g + 1) % n_labels
        else:
            p = g
        preds.append(p)
        conf = 0.6 + 0.3 * ((pos * 7) % 10) / 10  # varied, deterministic confidences
        row = [(1 - conf) / (n_labels - 1)] * n_labels
        row[p if p != INVALID else 0] = conf
        scores.append(row)
        raw.append("maybe?" if p == INVALID else labels[p])
    store.start(
        eid, config, dataset_key, labels, {"device": "cpu", "cpu": "Test CPU 2-core", "gpu": None}
    )
    store.finish(
        eid,
        indices,
        gold,
        Predictions(preds, scores if with_scores else None, raw),
        compute_metrics(gold, preds, labels),
        timing_dict or timing(100.0, 10.0, 15.0, 500.0),
        training or TrainingRecord(labels_used=0 if method == "zero-shot" else k),
    )
    return eid


def sst2_gold(n: int = 40) -> list[int]:
    return [i % 2 for i in range(n)]


def build_store(path: Path) -> ResultsStore:
    """The two-task store described in the module docstring."""
    store = ResultsStore(path)
    gold = sst2_gold()
    texts = [SCRIPT_PAYLOAD, IMG_PAYLOAD] + [
        f"review {i}: {'a warm, funny film' if g else 'a dull, tedious film'}"
        for i, g in enumerate(gold)
    ][2:]
    # train split 30 negative / 70 positive: the majority baseline always answers "positive"
    store.save_examples(
        SST2_KEY, [(i, Example(texts[i], gold[i])) for i in range(len(gold))], "sst2", [30, 70]
    )
    add_experiment(
        store,
        task="sst2",
        dataset_key=SST2_KEY,
        labels=SST2_LABELS,
        model="minilm",
        method="finetune",
        gold=gold,
        wrong={0, 1, 2, 3},
        timing_dict=timing(400.0, 2.5, 4.0, 300.0),
        training=TrainingRecord(labels_used=1000, train_time_s=FT_TRAIN_S),
    )
    add_experiment(
        store,
        task="sst2",
        dataset_key=SST2_KEY,
        labels=SST2_LABELS,
        model="smollm2-135m",
        method="zero-shot",
        gold=gold,
        wrong=set(range(20)),
        invalid={0, 1, 2, 3, 4},
        with_scores=False,
        timing_dict=timing(12.0, 60.0, 90.0, 800.0),
    )
    add_experiment(
        store,
        task="sst2",
        dataset_key=SST2_KEY,
        labels=SST2_LABELS,
        model="smollm2-135m",
        method="few-shot",
        gold=gold,
        wrong={0, 1, 4, 5, 6, 7},
        timing_dict=timing(9.0, 85.0, 120.0, 900.0),
    )

    rte_gold = [(i // 2) % 2 for i in range(30)]
    store.save_examples(
        RTE_KEY,
        [
            (
                i,
                Example(
                    f"premise {i}: the cat sat on the mat",
                    rte_gold[i],
                    f"hypothesis {i}: a cat sat",
                ),
            )
            for i in range(30)
        ],
        "rte",
        [50, 50],  # a tie: the baseline answers the first label, "entailment"
    )
    add_experiment(
        store,
        task="rte",
        dataset_key=RTE_KEY,
        labels=RTE_LABELS,
        model="minilm",
        method="finetune",
        gold=rte_gold,
        wrong={0},
        timing_dict=timing(350.0, 3.0, 5.0, 310.0),
        training=TrainingRecord(labels_used=2490, train_time_s=600.0),
    )
    add_experiment(
        store,
        task="rte",
        dataset_key=RTE_KEY,
        labels=RTE_LABELS,
        model="smollm2-135m",
        method="zero-shot",
        gold=rte_gold,
        wrong=set(range(10, 30)),
        timing_dict=timing(11.0, 70.0, 95.0, 820.0),
    )
    return store
