"""Panel vote and agreement statistics."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from robustcot.judges.agreement import agreement_by_group, label_agreement, panel_agreement
from robustcot.judges.panel import panel_label

C, X, N, U = "consistent", "inconsistent", "no_conclusion", "unparsed"


def test_panel_label_plurality_ties_and_abstaining_unparsed():
    assert panel_label([C, C, X]) == C
    assert panel_label([C, X, N]) == "tie"
    assert panel_label([C, X, U]) == "tie"
    assert panel_label([N, U, U]) == N  # unparsed votes abstain
    assert panel_label([U, U]) == U
    assert panel_label([X]) == X


def _fleiss_by_hand(rows: list[list[str]]) -> float:
    cats = [C, X, N]
    n = len(rows[0])
    counts = [[row.count(c) for c in cats] for row in rows]
    p_i = [(sum(x * x for x in r) - n) / (n * (n - 1)) for r in counts]
    p_j = [sum(r[j] for r in counts) / (len(rows) * n) for j in range(3)]
    p_bar, p_e = sum(p_i) / len(rows), sum(p * p for p in p_j)
    return (p_bar - p_e) / (1 - p_e)


def test_fleiss_kappa_matches_the_formula_and_drops_unparsed_rows():
    rows = [[C, C, C], [C, C, X], [X, X, X], [N, N, C], [X, N, X], [C, C, C], [N, N, N]]
    res = panel_agreement([*rows, [C, U, C]], n_boot=200, seed=1)
    assert res.n_items == 8 and res.n_dropped_unparsed == 1
    assert res.kappa == pytest.approx(_fleiss_by_hand(rows))
    assert res.strict == pytest.approx(4 / 7)
    assert res.ci_low <= res.kappa <= res.ci_high
    assert res.n_boot == 200 and res.note is None


def test_fleiss_kappa_is_nan_with_a_note_when_every_label_is_the_same():
    res = panel_agreement([[C, C], [C, C], [C, C]], n_boot=50)
    assert math.isnan(res.kappa) and "chance agreement is 1" in res.note
    assert res.strict == 1.0 and res.n_boot_degenerate == 50
    assert res.as_dict()["kappa"] is None  # JSON-safe


def test_fleiss_kappa_needs_two_judges_and_some_parsed_item():
    assert "two judges" in panel_agreement([[C], [X]]).note
    empty = panel_agreement([[U, C]])
    assert empty.n_dropped_unparsed == 1 and math.isnan(empty.strict)


def test_agreement_by_group_reports_overall_and_each_benchmark_variant():
    frame = pd.DataFrame(
        {
            "benchmark": ["b1", "b1", "b1", "b2"],
            "variant": ["base", "base", "wrong_think", "base"],
            "j1": [C, X, C, N],
            "j2": [C, X, X, N],
        }
    )
    out = agreement_by_group(frame, ["j1", "j2"], ["benchmark", "variant"], n_boot=20)
    keyed = {(r["benchmark"], r["variant"]): r for r in out}
    assert set(keyed) == {("all", "all"), ("b1", "base"), ("b1", "wrong_think"), ("b2", "base")}
    assert keyed[("all", "all")]["n_items"] == 4 and keyed[("all", "all")]["strict"] == 0.75
    assert keyed[("b1", "base")]["kappa"] == pytest.approx(1.0)
    assert keyed[("b1", "wrong_think")]["strict"] == 0.0


def test_label_agreement_gives_a_wilson_interval():
    res = label_agreement([C, C, X, N], [C, X, X, N])
    assert (res["n"], res["agree"], res["rate"]) == (4, 3, 0.75)
    assert res["ci_low"] < 0.75 < res["ci_high"] < 1.0
    assert label_agreement([], [])["rate"] is None
