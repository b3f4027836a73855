"""Each benchmark adapter on small fixture files written in the benchmark's published layout.

The fixtures follow the column layouts documented in /work/shared/reference/benchmarks.md; gold
answers are checked against the option *text* the source marks correct, not against the adapter's
own bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fixtures.formats import (
    b64,
    jpeg,
    png,
    struct,
    write_file,
    write_json,
    write_jsonl,
    write_parquet,
    write_tsv,
)
from robustcot.data.adapters import (
    OpenSample,
    cvbench,
    geometry3k,
    mme_realworld_lite,
    pixmo_count,
    sat,
    score_open,
    spatial_mm_multihop,
    spatial_mm_obj,
    threedsrbench,
    vstar,
    whatsup,
)
from robustcot.data.sample import Sample
from robustcot.errors import ConfigError


def gold_text(s: Sample) -> str:
    return s.options[s.gold_index]


# ------------------------------------------------------------------------------------------ CV-Bench


def _cv_row(idx: int, kind: str, task: str, source: str, choices: list[str], answer: str, image) -> dict:
    q = f"Question {idx}?"
    prompt = q + " Select from the following choices.\n" + "\n".join(f"({chr(65 + i)}) {c}" for i, c in enumerate(choices))
    return {
        "idx": idx, "type": kind, "task": task, "image": image, "question": q, "choices": choices,
        "answer": answer, "prompt": prompt, "filename": f"img/{kind}/{task.lower()}/{source.lower()}_{idx}.png",
        "source": source, "source_dataset": f"{source} Validation Set", "source_filename": f"{idx}.jpg",
        "target_class": None, "target_size": None, "bbox": None,
    }  # fmt: skip


def test_cvbench_parquet_2d_and_3d(tmp_path: Path) -> None:
    img = struct(png())
    write_parquet(tmp_path / "test_2d.parquet", [
        _cv_row(0, "2D", "Count", "ADE20K", ["3", "2", "1", "0"], "(C)", img),
        _cv_row(1, "2D", "Relation", "COCO", ["left", "right"], "(B)", img),
        _cv_row(2, "2D", "Count", "COCO", ["3", "2", "1", "0"], "(E)", img),  # malformed: no option E
    ])  # fmt: skip
    write_parquet(tmp_path / "test_3d.parquet", [_cv_row(0, "3D", "Depth", "Omni3D", ["lamp", "sofa"], "(A)", img)])
    result = cvbench.load(data_dir=tmp_path)
    by_id = {s.id: s for s in result}
    assert set(by_id) == {"cvbench-2D-0", "cvbench-2D-1", "cvbench-3D-0"}
    assert gold_text(by_id["cvbench-2D-0"]) == "1" and by_id["cvbench-2D-0"].gold_index == 2
    assert gold_text(by_id["cvbench-2D-1"]) == "right"
    assert by_id["cvbench-3D-0"].metadata["source"] == "Omni3D"
    assert by_id["cvbench-2D-0"].metadata["prompt"].endswith("(D) 0")
    assert [(r.sample_id, "E" in r.problem) for r in result.rejects] == [("cvbench-2D-2", True)]
    assert by_id["cvbench-2D-1"].load_images()[0].size == (40, 30)
    only3d = cvbench.load(data_dir=tmp_path, subset="3D")
    assert [s.id for s in only3d] == ["cvbench-3D-0"]


def test_cvbench_jsonl_with_image_files_reports_missing_file(tmp_path: Path) -> None:
    rows = [_cv_row(i, "2D", "Count", "ADE20K", ["1", "2", "3", "4"], "(D)", None) for i in range(3)]
    for r in rows:
        del r["image"]
    write_jsonl(tmp_path / "test_2d.jsonl", rows)
    for r in rows[:2]:
        write_file(tmp_path / r["filename"], png())
    result = cvbench.load(data_dir=tmp_path, subset="2D")
    assert [s.id for s in result] == ["cvbench-2D-0", "cvbench-2D-1"]
    assert all(gold_text(s) == "4" for s in result)
    assert result.rejects[0].sample_id == "cvbench-2D-2" and "not found" in result.rejects[0].problem


# ----------------------------------------------------------------------------------------- 3DSRBench


def _dsr_rows() -> list[dict]:
    img = b64(png())
    base = {"question": "Which is higher?", "category": "height_higher"}
    rows = [
        {**base, "index": 1, "qid": "ABCDEFGH", "A": "cup", "B": "lamp", "answer": "B", "image": img},
        {**base, "index": 2, "qid": "ABCDEFGH-1", "A": "lamp", "B": "cup", "answer": "A", "image": "1"},
        {**base, "index": 3, "qid": "ABCDEFGH-flip", "A": "cup", "B": "lamp", "answer": "A", "image": img},
        {**base, "index": 4, "qid": "ABCDEFGH-flip-1", "A": "lamp", "B": "cup", "answer": "B", "image": "3"},
        {"question": "Is the car facing left?", "category": "orientation_on_the_left", "index": 5,
         "qid": "ZZZZZZZZ", "A": "yes", "B": "no", "C": None, "answer": "A", "image": img},
        {"question": "Broken reference", "category": "location_above", "index": 6, "qid": "YYYYYYYY",
         "A": "yes", "B": "no", "answer": "B", "image": "999"},
    ]  # fmt: skip
    return rows


def test_3dsrbench_tsv_groups_and_circular_filter(tmp_path: Path) -> None:
    write_tsv(tmp_path / "3dsrbench_v1_vlmevalkit_circular.tsv", _dsr_rows())
    plain = threedsrbench.load(data_dir=tmp_path)
    assert [s.metadata["qid"] for s in plain] == ["ABCDEFGH", "ABCDEFGH-flip", "ZZZZZZZZ"]
    assert plain.rejects[0].sample_id == "3dsrbench-YYYYYYYY" and "999" in plain.rejects[0].problem

    full = {s.metadata["qid"]: s for s in threedsrbench.load(data_dir=tmp_path, circular=True)}
    assert set(full) == {"ABCDEFGH", "ABCDEFGH-1", "ABCDEFGH-flip", "ABCDEFGH-flip-1", "ZZZZZZZZ"}
    rot = full["ABCDEFGH-flip-1"]
    assert rot.metadata["groups"] == {"circular": "ABCDEFGH-flip", "flip": "ABCDEFGH-1", "flip_circular": "ABCDEFGH"}
    assert rot.metadata["augmentation"] == "flip+circular:1"
    assert gold_text(full["ABCDEFGH-1"]) == "lamp" and gold_text(full["ABCDEFGH-flip-1"]) == "cup"
    assert full["ABCDEFGH-1"].load_images()[0].size == (40, 30)  # image shared by reference to index 1
    assert full["ZZZZZZZZ"].options == ["yes", "no"]  # empty C column skipped
    assert full["ZZZZZZZZ"].metadata["parent_category"] == "orientation"


def test_3dsrbench_limit_keeps_question_groups_whole(tmp_path: Path) -> None:
    write_tsv(tmp_path / "x.tsv", _dsr_rows()[:5])
    for seed in range(6):
        picked = threedsrbench.load(data_dir=tmp_path, circular=True, limit=1, seed=seed)
        assert {s.metadata["qid"][:8] for s in picked} in ({"ABCDEFGH"}, {"ZZZZZZZZ"})
        assert len(picked) in (4, 1)


def test_3dsrbench_generates_rotations_when_file_has_none(tmp_path: Path) -> None:
    write_tsv(tmp_path / "3dsrbench_v1_vlmevalkit.tsv", [_dsr_rows()[0], _dsr_rows()[2]])
    out = threedsrbench.load(data_dir=tmp_path, circular=True)
    assert [s.id for s in out] == [
        "3dsrbench-ABCDEFGH", "3dsrbench-ABCDEFGH-1", "3dsrbench-ABCDEFGH-flip", "3dsrbench-ABCDEFGH-flip-1",
    ]  # fmt: skip
    assert all(gold_text(s) == ("lamp" if "flip" not in s.id else "cup") for s in out)
    assert out[3].metadata["groups"]["flip"] == "ABCDEFGH-1"


# ----------------------------------------------------------------------------------------- Spatial-MM

#: The six rows whose answer letter and text disagree, verbatim from FatemehShiri/Spatial-MM @7c5ff29
#: (one_obj 25, 62; two_obj 263, 527, 594, 851), and well-formed neighbours.
MISMATCH_ONE = {
    25: ("Where is the steering wheel located from camera's perspective?\nA. middle\nB. bottom\nC. left\nD. right",
         "C. middle"),
    62: ("Is the deer sitting and facing left from camera's perspective?\nA. yes\nB. no", "A. no"),
}  # fmt: skip
MISMATCH_TWO = {
    263: ("Where is the dog from the woman's perspective?\nA. right\nB. front\nC. left\nD. back", "D. front"),
    527: ("Is there a visible tire on the right of the car from camera's perspective?\nA. yes\nB. no", "B. yes"),
    594: ("Is there a plant on the right from the man's perspective?\nA. yes\nB. no", "A. no"),
    851: ("Is there a plant on the left from the man's perspective?\nA. yes\nB. no", "B. yes"),
}


def _smm_file(path: Path, mismatches: dict, n: int, two: bool) -> None:
    rows = []
    for i in range(n):
        q, a = mismatches.get(i, ("Which direction is cat looking at from camera's perspective?\n"
                                  "A. bottom left\nB. left\nC. right\nD. upwards", "D. upwards"))  # fmt: skip
        rows.append({"image_name": f"img{i % 3}.jpg", "question": q, "answer": a,
                     "object1": "cat", "object2": "dog" if two else ""})  # fmt: skip
    write_json(path, rows)


@pytest.fixture
def spatial_mm_dir(tmp_path: Path) -> Path:
    _smm_file(tmp_path / "data" / "spatial_mm_one_obj.json", MISMATCH_ONE, 70, two=False)
    _smm_file(tmp_path / "data" / "spatial_mm_two_obj.json", MISMATCH_TWO, 860, two=True)
    for i in range(3):
        write_file(tmp_path / "images" / f"img{i}.jpg", jpeg())
    return tmp_path


def test_spatial_mm_flags_the_six_letter_text_disagreements(spatial_mm_dir: Path) -> None:
    result = spatial_mm_obj.load(data_dir=spatial_mm_dir)
    assert len(result) == 70 + 860 and not result.rejects
    flagged = {s.id: s for s in result if "answer_mismatch" in s.metadata}
    expected = {f"spatial_mm_obj-one-{i}" for i in MISMATCH_ONE} | {f"spatial_mm_obj-two-{i}" for i in MISMATCH_TWO}
    assert set(flagged) == expected
    wheel = flagged["spatial_mm_obj-one-25"]
    assert wheel.question == "Where is the steering wheel located from camera's perspective?"
    assert wheel.options == ["middle", "bottom", "left", "right"]
    assert gold_text(wheel) == "middle"  # text is authoritative
    assert wheel.metadata["answer_mismatch"] == {
        "letter": "C", "text": "middle", "letter_index": 2, "text_index": 0, "used": "text",
    }  # fmt: skip
    assert gold_text(flagged["spatial_mm_obj-two-594"]) == "no"
    normal = next(s for s in result if s.id == "spatial_mm_obj-one-0")
    assert gold_text(normal) == "upwards" and normal.metadata["perspective"] == "camera"

    by_letter = {s.id: s for s in spatial_mm_obj.load(data_dir=spatial_mm_dir, answer_field="letter")}
    assert gold_text(by_letter["spatial_mm_obj-one-25"]) == "left"
    dropped = spatial_mm_obj.load(data_dir=spatial_mm_dir, answer_field="drop")
    assert {r.sample_id for r in dropped.rejects} == expected and len(dropped) == 930 - 6


def test_spatial_mm_missing_image_is_a_reject(spatial_mm_dir: Path) -> None:
    (spatial_mm_dir / "images" / "img1.jpg").unlink()
    result = spatial_mm_obj.load(data_dir=spatial_mm_dir, subset="one")
    assert len(result.rejects) == len([i for i in range(70) if i % 3 == 1])
    assert all("img1.jpg" in r.problem for r in result.rejects)


def test_spatial_mm_multihop_is_open_ended(tmp_path: Path) -> None:
    rows = [
        {"image_name": "m.jpeg", "question": "Which direction is the monkey facing?", "answer": "left",
         "reasoning": "{[a], [b]}", "hop": 2},
        {"image_name": "m.jpeg", "question": "What color is the garment?", "answer": "pink", "reasoning": "{}", "hop": 3},
        {"image_name": "m.jpeg", "question": "", "answer": "x", "reasoning": "", "hop": 2},
    ]  # fmt: skip
    write_json(tmp_path / "data" / "multihop_reasoning_309.json", rows)
    write_file(tmp_path / "images" / "m.jpeg", jpeg())
    out = spatial_mm_multihop.load(data_dir=tmp_path)
    assert all(isinstance(s, OpenSample) for s in out) and len(out) == 2
    assert out.rejects[0].sample_id == "spatial_mm_multihop-2" and "empty question" in out.rejects[0].problem
    assert out[0].metadata["hop"] == 2
    assert score_open(out[0], "The answer is: Left.") is False  # normalised exact match, not substring
    assert score_open(out[0], " Left. ") is True
    assert score_open(out[1], "") is None
    with pytest.raises(ConfigError):
        spatial_mm_multihop.load()


# ------------------------------------------------------------------------------------------- WhatsUp


@pytest.fixture
def whatsup_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    controlled = []
    for i, (a, b) in enumerate([("mug", "table"), ("cap", "chair"), ("book", "sofa")] * 4):
        name = f"{a}{i}_on_{b}.jpeg"
        write_file(data / "controlled_images" / name, jpeg())
        controlled.append({
            "image_path": f"data/controlled_images/{name}",
            "caption_options": [f"A {a} on a {b}", f"A {a} under a {b}", f"A {a} to the left of a {b}",
                                f"A {a} to the right of a {b}"],
        })  # fmt: skip
    write_json(data / "controlled_images_dataset.json", controlled)
    coco = [[139 + i, f"A dog to the left of a cat {i}", f"A dog to the right of a cat {i}"] for i in range(12)]
    for row in coco:
        write_file(data / "val2017" / f"{row[0]:012d}.jpg", jpeg())
    write_json(data / "coco_qa_two_obj.json", coco)
    return data


def test_whatsup_shuffles_deterministically_and_gold_is_the_first_caption(whatsup_dir: Path) -> None:
    a = whatsup.load(data_dir=whatsup_dir, seed=3)
    b = whatsup.load(data_dir=whatsup_dir, seed=3)
    c = whatsup.load(data_dir=whatsup_dir, seed=4)
    assert len(a) == 24 and not a.rejects
    assert [s.options for s in a] == [s.options for s in b]
    assert [s.options for s in a] != [s.options for s in c]
    for s in a:
        first = s.metadata["source_order"].index(0)
        assert s.gold_index == first
        assert " on a " in gold_text(s) or "to the left of a cat" in gold_text(s)
        assert s.option_statements == s.options
    golds = [s.gold_index for s in a]
    assert len(set(golds)) >= 3 and golds.count(0) < len(golds) / 2
    assert {s.metadata["source"] for s in a} == {"controlled_a", "coco_qa_two_obj"}
    assert a[0].load_images()[0].size == (40, 30)


def test_whatsup_order_does_not_depend_on_limit(whatsup_dir: Path) -> None:
    full = {s.id: s.options for s in whatsup.load(data_dir=whatsup_dir, seed=1)}
    part = whatsup.load(data_dir=whatsup_dir, seed=1, limit=5)
    assert len(part) == 5 and all(full[s.id] == s.options for s in part)
    assert {s.id for s in whatsup.load(data_dir=whatsup_dir, seed=1, limit=3)} <= {s.id for s in part}


def test_whatsup_subset_selection_and_errors(whatsup_dir: Path) -> None:
    only = whatsup.load(data_dir=whatsup_dir, subsets="coco_qa_two_obj")
    assert {len(s.options) for s in only} == {2}
    with pytest.raises(ConfigError, match="unknown whatsup subset"):
        whatsup.load(data_dir=whatsup_dir, subsets="nope")
    with pytest.raises(ConfigError, match="needs"):
        whatsup.load(data_dir=whatsup_dir, subsets=["vg_qa_one_obj"])


# ------------------------------------------------------------------------------------------------ V*


def test_vstar_questions_jsonl_with_trailing_instruction(tmp_path: Path) -> None:
    instr = "Answer with the option's letter from the given choices directly."
    rows = [
        {"image": "direct_attributes/sa_1.jpg", "text": f"What is the color of the cup?\n(A) red\n(B) blue\n(C) green\n(D) white\n{instr}",
         "category": "direct_attributes", "question_id": 0, "label": "C"},
        {"image": "relative_position/sa_2.jpg", "text": "Is the dog on the left or right of the cat?\n(A) left\n(B) right",
         "category": "relative_position", "question_id": 1, "label": "B"},
        {"image": "OCR/sa_3.jpg", "text": "What does it say?\n(A) x\n(B) y", "category": "OCR", "question_id": 2, "label": "A"},
    ]  # fmt: skip
    write_jsonl(tmp_path / "test_questions.jsonl", rows)
    for r in rows:
        write_file(tmp_path / r["image"], jpeg())
    out = vstar.load(data_dir=tmp_path)
    assert [s.id for s in out] == ["vstar-0", "vstar-1"]  # OCR is not part of the benchmark
    cup = out[0]
    assert cup.question == "What is the color of the cup?" and cup.options == ["red", "blue", "green", "white"]
    assert gold_text(cup) == "green" and cup.metadata["instruction"] == instr
    assert gold_text(out[1]) == "right"


def test_vstar_original_annotations_are_shuffled(tmp_path: Path) -> None:
    for i in range(8):
        write_json(tmp_path / "direct_attributes" / f"sa_{i}.json", {
            "target_object": ["glove"], "bbox": [[1, 2, 3, 4]], "question": "What is the material of the glove?",
            "options": ["leather", "cotton", "rubber", "wool"],
        })  # fmt: skip
        write_file(tmp_path / "direct_attributes" / f"sa_{i}.jpg", jpeg())
    out = vstar.load(data_dir=tmp_path, seed=0)
    assert len(out) == 8 and all(gold_text(s) == "leather" for s in out)
    assert len({s.gold_index for s in out}) > 1


def test_vstar_hub_path_via_datasets_parquet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("datasets")
    from robustcot.data.adapters import rows as rows_mod

    path = write_parquet(tmp_path / "test.parquet", [
        {"image": struct(jpeg()), "text": "Color?\n(A) red\n(B) blue", "label": "B", "question_id": 7,
         "category": "direct_attributes"},
    ])  # fmt: skip
    calls = []

    def local_hub(hub_id, **kwargs):
        calls.append(hub_id)
        return rows_mod.hub_rows("parquet", data_files=str(path), split="train", cache_dir=str(tmp_path / "cache"))

    monkeypatch.setattr(vstar, "hub_rows", local_hub)
    out = vstar.load()
    assert calls == [vstar.HUB_ID]
    assert [s.id for s in out] == ["vstar-7"] and gold_text(out[0]) == "blue"
    assert out[0].images[0].data is not None and out[0].load_images()[0].size == (40, 30)


# --------------------------------------------------------------------------------- MME-RealWorld-Lite


def test_mme_realworld_tsv_and_official_json(tmp_path: Path) -> None:
    opts = ["(A) 1", "(B) 2", "(C) 3", "(D) 4", "(E) The image does not feature the buses"]
    write_tsv(tmp_path / "tsv" / "mme_realworld_lite.tsv", [
        {"index": 10, "image": b64(jpeg()), "question": "How many buses?", "multi-choice options": str(opts),
         "answer": "D", "category": "Perception/Monitoring", "l2-category": "Vehicle/counting"},
        {"index": 11, "image": "not base64!!", "question": "Q", "multi-choice options": str(opts),
         "answer": "A", "category": "Perception/Monitoring", "l2-category": "x"},
    ])  # fmt: skip
    out = mme_realworld_lite.load(data_dir=tmp_path / "tsv")
    assert [s.id for s in out] == ["mme_realworld_lite-10"] and len(out[0].options) == 5
    assert out[0].options[4] == "The image does not feature the buses" and gold_text(out[0]) == "4"
    assert out[0].metadata["parent_category"] == "Perception"
    assert out.rejects[0].sample_id == "mme_realworld_lite-11" and "base64" in out.rejects[0].problem

    write_file(tmp_path / "json" / "Perception" / "a.jpg", jpeg())
    write_json(tmp_path / "json" / "lite.json", [{
        "Question_id": "Perception/Autonomous_Driving/Objects_Identify/0000", "Image": "Perception/a.jpg",
        "Text": "Which object is closest?", "Answer choices": ["(A) car", "(B) bus", "(C) tree", "(D) sign", "(E) none"],
        "Ground truth": "B", "Task": "Perception", "Subtask": "Autonomous_Driving", "Category": "Objects_Identify",
    }])  # fmt: skip
    official = mme_realworld_lite.load(data_dir=tmp_path / "json")
    assert gold_text(official[0]) == "bus" and official[0].metadata["category"] == "Perception/Autonomous_Driving"


# ----------------------------------------------------------------------------------------------- SAT


def test_sat_parquet_one_and_two_images_shuffled(tmp_path: Path) -> None:
    rows = []
    for i in range(10):
        n_images = 1 + i % 2
        rows.append({
            "image_bytes": [struct(png((i * 20, 0, 0))) for _ in range(n_images)],
            "question": f"Did the camera move left or right? #{i}", "answers": ["left", "right"],
            "question_type": "ego_movement", "correct_answer": "left",
        })  # fmt: skip
    rows.append({"image_bytes": [struct(png())], "question": "Bad", "answers": ["a", "b"],
                 "question_type": "other", "correct_answer": "c"})  # fmt: skip
    write_parquet(tmp_path / "SAT_test.parquet", rows)
    out = sat.load(data_dir=tmp_path, split="test", seed=5)
    assert len(out) == 10 and all(gold_text(s) == "left" for s in out)
    assert {len(s.images) for s in out} == {1, 2}
    assert {s.gold_index for s in out} == {0, 1}  # shuffled: 'left' is not always first
    assert out.rejects[0].sample_id == "sat-test-10" and "'c'" in out.rejects[0].problem
    circ = sat.load(data_dir=tmp_path, split="test", seed=5, circular=True, limit=3)
    assert len(circ) == 2 * (3 - len(circ.rejects))  # limit counts questions; each brings both orders
    assert [s.options for s in circ[:2]] == [circ[0].options, circ[0].options[::-1]]
    assert circ[1].metadata["groups"]["circular"] == circ[0].id


def test_sat_nv_njb_layout_keeps_published_order(tmp_path: Path) -> None:
    write_parquet(tmp_path / "test-00000-of-00001.parquet", [
        {"image_bytes": [struct(png())], "question": "Q?", "answers": ["right", "left"], "correct_answer_idx": 1},
    ])  # fmt: skip
    out = sat.load(data_dir=tmp_path, split="test")
    assert out[0].options == ["right", "left"] and out[0].gold_index == 1


# --------------------------------------------------------------------------------------- Pixmo-Count


def test_pixmo_count_reads_cache_and_reports_missing_images(tmp_path: Path) -> None:
    present, other = png((1, 2, 3)), png((9, 9, 9))
    sha_present = hashlib.sha256(present).hexdigest()
    sha_missing = hashlib.sha256(b"never downloaded").hexdigest()
    sha_wrong = hashlib.sha256(b"expected bytes").hexdigest()
    write_file(tmp_path / "cache" / f"{sha_present}.png", present)
    write_file(tmp_path / "cache" / f"{sha_wrong}.jpg", other)  # file name claims a hash its bytes lack
    write_jsonl(tmp_path / "test.jsonl", [
        {"image_url": "https://x/a.png", "image_sha256": sha_present, "count": 4, "label": "apples", "points": None},
        {"image_url": "https://x/b.png", "image_sha256": sha_missing, "count": 2, "label": "cars", "points": None},
        {"image_url": "https://x/c.png", "image_sha256": sha_wrong, "count": 3, "label": "dogs", "points": None},
    ])  # fmt: skip
    out = pixmo_count.load(data_dir=tmp_path, split="test", image_cache=tmp_path / "cache")
    assert [s.id for s in out] == ["pixmo_count-test-0", "pixmo_count-test-2"]
    apples = out[0]
    assert isinstance(apples, OpenSample) and apples.answer == "4" and apples.answer_type == "integer"
    assert apples.question == "How many apples are there in the image?"
    assert score_open(apples, "I count four apples.") is True and score_open(apples, "There are 5.") is False
    (missing,) = out.rejects
    assert missing.sample_id == "pixmo_count-test-1"
    assert "https://x/b.png" in missing.problem and "never downloads" in missing.problem

    verified = pixmo_count.load(data_dir=tmp_path, split="test", image_cache=tmp_path / "cache", verify_sha256=True)
    assert [s.id for s in verified] == ["pixmo_count-test-0"]
    assert {r.sample_id for r in verified.rejects} == {"pixmo_count-test-1", "pixmo_count-test-2"}


# ----------------------------------------------------------------------------------------- Geometry3K


def test_geometry3k_hf_layout(tmp_path: Path) -> None:
    write_parquet(tmp_path / "train-00000-of-00001.parquet", [
        {"images": [struct(png(mode="RGBA"))], "problem": "<image>Find x.", "answer": "48", "id": 0,
         "choices": ["36", "48", "66", "72"], "ground_truth": "B"},
        {"images": [struct(png())], "problem": "<image>Find y.", "answer": "10", "id": 1,
         "choices": ["5", "10", "12", "13.5"], "ground_truth": "10"},
    ])  # fmt: skip
    out = geometry3k.load(data_dir=tmp_path, split="train")
    assert [gold_text(s) for s in out] == ["48", "10"]
    assert out[0].question == "Find x." and out[0].metadata["raw_problem"] == "<image>Find x."
    assert out[0].load_images()[0].mode == "RGB"


# ---------------------------------------------------------------------------------------- registry


def test_registry_passes_data_dir_and_rejects_unknown_options(whatsup_dir: Path) -> None:
    from robustcot.data.registry import load_benchmark

    out = load_benchmark("whatsup", limit=4, seed=0, data_dir=whatsup_dir)
    assert len(out) == 4 and out.rejects == []
    with pytest.raises(ConfigError, match="invalid options"):
        load_benchmark("whatsup", data_dir=whatsup_dir, subset="controlled_a")  # the option is `subsets`


def test_benchmark_info_lists_every_adapter() -> None:
    from robustcot.data.adapters import list_benchmark_info

    info = {row["name"]: row for row in list_benchmark_info()}
    expected = {"cvbench", "3dsrbench", "spatial_mm_obj", "spatial_mm_multihop", "whatsup", "vstar",
                "mme_realworld_lite", "mmbench", "sat", "pixmo_count", "geometry3k", "synthetic"}  # fmt: skip
    assert expected <= set(info)
    assert info["pixmo_count"]["task"] == "open" and info["sat"]["role"] == "train"
    assert info["mme_realworld_lite"]["options"].startswith("5")
    assert all(info[n]["licence"] and info[n]["size"] for n in expected - {"synthetic"})
    json.dumps(list(info.values()))  # plain data, ready for a CLI table or JSON output


def test_lmms_eval_parquet_layouts(tmp_path: Path) -> None:
    """lmms-eval exports: MME-RealWorld-Lite with a base64 ``bytes`` column, 3DSRBench with image structs."""
    opts = ["(A) red", "(B) blue", "(C) green", "(D) black", "(E) none of the above"]
    write_parquet(tmp_path / "mme" / "train-00000-of-00001.parquet", [
        {"index": 3, "question": "What colour is the roof?", "multi-choice options": opts, "answer": "C",
         "category": "Perception/Remote_Sensing", "l2-category": "color", "bytes": b64(jpeg())},
    ])  # fmt: skip
    (mme,) = mme_realworld_lite.load(data_dir=tmp_path / "mme")
    assert gold_text(mme) == "green" and mme.images[0].data is not None
    write_parquet(tmp_path / "dsr" / "test-00000-of-00001.parquet", [
        {"image": struct(png()), "question": "Which is closer?", "A": "car", "B": "tree", "C": None, "D": None,
         "answer": "B", "category": "location_closer_to_camera", "index": 0, "qid": "QQQQQQQQ"},
    ])  # fmt: skip
    (dsr,) = threedsrbench.load(data_dir=tmp_path / "dsr")
    assert dsr.options == ["car", "tree"] and gold_text(dsr) == "tree"
    assert dsr.metadata["parent_category"] == "location" and dsr.load_images()[0].size == (40, 30)
