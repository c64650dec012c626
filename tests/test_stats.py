"""Paired significance: McNemar's exact test, Holm's correction and the winner rule, by hand."""

from __future__ import annotations

from math import comb
from pathlib import Path

import pytest
from statsmodels.stats.contingency_tables import mcnemar

from bakeoff.report.options import DEFAULT_ALPHA as OPTIONS_ALPHA
from bakeoff.stats import (
    DEFAULT_ALPHA,
    Outcomes,
    compare_pair,
    decide,
    holm,
    mcnemar_exact,
    task_verdict,
)
from tests.report_fixtures import build_store


def _pairs(
    a_only: int, b_only: int, both: int = 0, neither: int = 0
) -> tuple[list[bool], list[bool]]:
    a = [True] * a_only + [False] * b_only + [True] * both + [False] * neither
    b = [False] * a_only + [True] * b_only + [True] * both + [False] * neither
    return a, b


def test_mcnemar_exact_matches_hand_computation() -> None:
    # 8 vs 2 discordant: p = 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * (1 + 10 + 45) / 1024
    r = mcnemar_exact(*_pairs(8, 2, both=30, neither=5))
    assert (r.n, r.a_only, r.b_only) == (45, 8, 2)
    assert r.p_value == pytest.approx(112 / 1024)
    # all 10 discordant pairs one way: p = 2 / 2**10
    assert mcnemar_exact(*_pairs(10, 0)).p_value == pytest.approx(2 / 1024)
    # symmetric, and concordant pairs do not matter
    assert mcnemar_exact(*_pairs(2, 8)).p_value == pytest.approx(112 / 1024)
    # balanced discordance (5 vs 5) and no discordance are both p = 1
    assert mcnemar_exact(*_pairs(5, 5)).p_value == pytest.approx(1.0)
    assert mcnemar_exact(*_pairs(0, 0, both=7)).p_value == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


def test_mcnemar_agrees_with_statsmodels() -> None:
    for a_only, b_only in [(8, 2), (3, 9), (16, 0), (7, 6)]:
        ours = mcnemar_exact(*_pairs(a_only, b_only, both=4, neither=3)).p_value
        table = [[4, a_only], [b_only, 3]]
        assert ours == pytest.approx(mcnemar(table, exact=True).pvalue)
    assert comb(10, 2) == 45  # the hand computation above uses this


def test_holm_by_hand() -> None:
    # sorted 0.01, 0.03, 0.04 -> x3, x2, x1 = 0.03, 0.06, 0.04 -> monotone: 0.03, 0.06, 0.06
    reject, adjusted = holm([0.01, 0.04, 0.03], alpha=0.05)
    assert adjusted == pytest.approx([0.03, 0.06, 0.06])
    assert reject == [True, False, False]
    assert holm([]) == ([], [])
    assert DEFAULT_ALPHA == OPTIONS_ALPHA


def _outcomes(
    eid: str, wrong: set[int], n: int = 40, key: str = "k", idx: range | None = None
) -> Outcomes:
    return Outcomes(eid, key, {i: i not in wrong for i in (idx if idx is not None else range(n))})


def test_winner_needs_significance_against_every_other() -> None:
    a = _outcomes("a", {0})  # 39/40
    b = _outcomes("b", set(range(20)))  # 20/40
    c = _outcomes("c", set(range(18)))  # 22/40
    v = decide([b, a, c])
    assert v.status == "winner" and v.leader == "a"
    assert sorted(v.beats) == ["b", "c"] and v.tied_with == []
    # three pairs, Holm-corrected together: a-b 19 vs 0 -> 2/2**19, a-c 17 vs 0 -> 2/2**17,
    # b-c 0 vs 2 -> 0.5; adjusted: x3, x2, x1
    by_pair = {frozenset((c_.a, c_.b)): c_ for c_ in v.comparisons}
    assert by_pair[frozenset("ab")].p_holm == pytest.approx(3 * 2 / 2**19)
    assert by_pair[frozenset("ac")].p_holm == pytest.approx(2 * 2 / 2**17)
    assert by_pair[frozenset("bc")].p_holm == pytest.approx(0.5)
    assert by_pair[frozenset("bc")].significant is False


def test_tie_names_who_it_is_tied_with() -> None:
    a = _outcomes("a", {0, 1, 2, 3})
    c = _outcomes("c", {0, 1, 4, 5, 6, 7})
    b = _outcomes("b", set(range(20)))
    v = decide([a, b, c])
    assert v.status == "tie" and v.leader == "a"
    assert v.tied_with == ["c"] and v.beats == ["b"]
    assert v.top_group == ["a", "c"]
    assert v.tied("a", "c") and not v.tied("a", "b")


def test_alone_and_empty() -> None:
    assert decide([]).status == "empty"
    v = decide([_outcomes("a", {1})])
    assert v.status == "alone" and v.leader == "a" and v.comparisons == []


def test_different_data_is_never_paired_and_blocks_a_win() -> None:
    a = _outcomes("a", {0})
    other = _outcomes("x", set(range(30)), key="other-data")
    c = compare_pair(a, other)
    assert not c.comparable and c.p_value is None and "different data" in (c.note or "")
    v = decide([a, other])
    assert v.status == "tie" and v.not_comparable == ["x"]


def test_different_example_sets_are_intersected() -> None:
    a = _outcomes("a", set(), idx=range(0, 40))  # all right on 0..39
    b = _outcomes("b", set(range(20, 30)), idx=range(20, 60))  # wrong on 20..29
    c = compare_pair(a, b)
    assert c.comparable and c.n == 20  # the shared examples 20..39
    assert (c.a_only, c.b_only) == (10, 0)
    assert c.p_value == pytest.approx(2 / 2**10)
    assert "compared on the 20 both scored" in (c.note or "")


def test_task_verdict_from_store(tmp_path: Path) -> None:
    store = build_store(tmp_path / "b.db")
    records = [r for r in store.experiments() if r.task == "sst2"]
    preds = {r.id: store.predictions(r.id) for r in records}
    v = task_verdict(records, preds)
    names = {r.id: r.method for r in records}
    assert v.status == "tie" and names[v.leader] == "finetune"
    assert [names[i] for i in v.tied_with] == ["few-shot"]
    assert [names[i] for i in v.beats] == ["zero-shot"]
    # invalid answers (pred -1) count as wrong: zero-shot's 5 invalid answers are all misses
    zs = next(r for r in records if r.method == "zero-shot")
    assert Outcomes.from_predictions(zs, preds[zs.id]).accuracy == pytest.approx(0.5)
    pvals = sorted(c.p_holm for c in v.comparisons)
    # raw p: 2/2**16, 2/2**14, 44/64 -> Holm x3, x2, x1
    assert pvals == pytest.approx([3 * 2 / 2**16, 2 * 2 / 2**14, 44 / 64])
    with pytest.raises(ValueError):
        task_verdict(
            store.experiments(), {r.id: store.predictions(r.id) for r in store.experiments()}
        )
