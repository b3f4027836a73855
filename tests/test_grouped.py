"""Grouped scoring on hand-built records whose results were computed by hand (in the comments)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from robustcot.data.adapters.threedsrbench import qid_groups
from robustcot.data.grouped import (
    EXTRA_RECORD_FIELDS,
    breakdown,
    circular_accuracy,
    cvbench_score,
    flip_accuracy,
    group_accuracy,
    record_extras,
    row_accuracy,
    threedsr_scores,
)
from robustcot.data.sample import Sample


def _rec(sid, correct, group=None, *, benchmark="mmbench", variant="base", abstain=False, status="ok", **extra):
    return {"sample_id": sid, "benchmark": benchmark, "variant": variant, "abstain": abstain,
            "correct": correct, "status": status, "group_circular": group, **extra}  # fmt: skip


def test_circular_accuracy_needs_every_rotation_right() -> None:
    records = pd.DataFrame([
        _rec("q1", True, "q1"), _rec("q1@1", True, "q1"), _rec("q1@2", True, "q1"),  # right
        _rec("q2", True, "q2"), _rec("q2@1", False, "q2"), _rec("q2@2", True, "q2"),  # one wrong → wrong
        _rec("q3", True, "q3"), _rec("q3@1", None, "q3"),  # unparsed counts as wrong
        _rec("q4", True, "q4"), _rec("q4@1", None, "q4", status="error"),  # error → left out
        _rec("solo", True, None),  # no group key: its own group
        _rec("q1", False, "q1", variant="wrong_think"), _rec("q1@1", True, "q1", variant="wrong_think"),
    ])  # fmt: skip
    out = circular_accuracy(records).set_index("variant")
    base = out.loc["base"]
    assert (base.n_groups, base.n_groups_scored, base.n_groups_error, base.n_groups_correct) == (5, 4, 1, 2)
    assert base.accuracy == pytest.approx(2 / 4)
    assert out.loc["wrong_think"].accuracy == 0.0
    plain = row_accuracy(records).set_index("variant").loc["base"]
    assert (plain.n, plain.n_scored, plain.n_errors, plain.n_correct) == (11, 10, 1, 8)  # rows, not groups: 3+2+1+1+1 right


def test_threedsr_four_settings() -> None:
    outcome = {
        "XXXXXXXX": True, "XXXXXXXX-1": True, "XXXXXXXX-flip": False, "XXXXXXXX-flip-1": True,
        "YYYYYYYY": True, "YYYYYYYY-1": True, "YYYYYYYY-flip": True, "YYYYYYYY-flip-1": True,
    }  # fmt: skip
    rows = []
    for qid, ok in outcome.items():
        g = qid_groups(qid)
        rows.append({"sample_id": qid, "benchmark": "3dsrbench", "variant": "base", "abstain": False,
                     "correct": ok, "status": "ok", "group_circular": g["circular"], "group_flip": g["flip"],
                     "group_flip_circular": g["flip_circular"]})  # fmt: skip
    scores = threedsr_scores(pd.DataFrame(rows)).iloc[0]
    assert scores.vanilla == pytest.approx(7 / 8)
    assert scores.flip == pytest.approx(3 / 4)  # only (X, X-flip) fails
    assert scores.circular == pytest.approx(3 / 4)  # only the X-flip rotations fail
    assert scores.flip_circular == pytest.approx(1 / 2)  # X fails as a whole, Y passes
    assert flip_accuracy(pd.DataFrame(rows)).iloc[0].n_groups == 4


def test_cvbench_official_score_and_plain_accuracy() -> None:
    spec = [("ADE20K", [True, True, True, False]), ("COCO", [True, False]), ("Omni3D", [True, True, False, False, False])]
    rows = [
        {"sample_id": f"{src}{i}", "benchmark": "cvbench", "variant": "base", "abstain": False, "correct": ok,
         "status": "ok", "source": src}
        for src, oks in spec for i, ok in enumerate(oks)
    ]  # fmt: skip
    rows.append({**rows[-1], "sample_id": "Omni3D-err", "correct": None, "status": "error"})
    rows.append({**rows[0], "sample_id": "other", "benchmark": "mmbench", "source": "Omni3D", "correct": True})
    out = cvbench_score(pd.DataFrame(rows)).iloc[0]
    assert (out.acc_ADE20K, out.acc_COCO, out.acc_Omni3D) == pytest.approx((0.75, 0.5, 0.4))
    assert out.acc_2d == pytest.approx(0.625)
    assert out.score == pytest.approx((0.625 + 0.4) / 2)  # 0.5125, not the row mean
    assert out.accuracy == pytest.approx(6 / 11)
    only_2d = cvbench_score(pd.DataFrame([r for r in rows if r["source"] != "Omni3D"])).iloc[0]
    assert math.isnan(only_2d.score) and only_2d.acc_2d == pytest.approx(0.625)


def test_breakdown_by_category_and_abstain() -> None:
    records = pd.DataFrame([
        _rec("a", True, category="count"), _rec("b", False, category="count"), _rec("c", True, category="relation"),
        _rec("a", False, category="count", abstain=True),
    ])  # fmt: skip
    out = breakdown(records, "category").set_index(["abstain", "category"])["accuracy"]
    assert out.to_dict() == {(False, "count"): 0.5, (False, "relation"): 1.0, (True, "count"): 0.0}
    by_group = group_accuracy(records, "category", by=("benchmark", "variant")).set_index("variant")
    assert by_group.loc["base"].n_groups == 2  # 'count' fails (b and the abstain row), 'relation' passes
    with pytest.raises(ValueError, match="lack"):
        breakdown(records.drop(columns=["correct"]), "category")


def test_record_extras_from_sample_metadata() -> None:
    s = Sample(
        id="x", benchmark="3dsrbench", question="Q", options=["a", "b"], gold_index=0,
        metadata={"source": "COCO", "parent_category": "height", "augmentation": "flip",
                  "groups": qid_groups("ABCDEFGH-flip")},
    )  # fmt: skip
    extras = record_extras(s)
    assert set(extras) == set(EXTRA_RECORD_FIELDS)
    assert extras == {"source": "COCO", "parent_category": "height", "augmentation": "flip",
                      "group_circular": "ABCDEFGH-flip", "group_flip": "ABCDEFGH", "group_flip_circular": "ABCDEFGH"}  # fmt: skip
