"""Adapters on real published files: MMBench's sample README cells + images, Geometry3K folders.

MMBench publishes its questions as TSVs that cannot be fetched here; its repository's
``samples/README.md`` shows 20 dev questions as HTML cells next to their real images. The test
parses those cells into rows of VLMEvalKit's TSV layout (base64 images, letter columns, hint),
adds CircularEval copies the way the published TSV stores them (``index + k·1e6``, image cell =
the base row's index), and loads the file through the ``mmbench`` adapter.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from fixtures.formats import write_tsv
from robustcot.data.adapters import geometry3k, mmbench
from robustcot.data.grouped import record_extras

REAL = Path(__file__).parent / "fixtures" / "real"
MMBENCH = REAL / "mmbench" / "samples"
GEO = REAL / "geometry3k" / "data_examples"


def _cell(html: str) -> dict:
    """One ``QUESTION. ...<br>HINT. ...<br><br>Options:<br>A. ...<br><br>ANSWER. D`` cell → fields."""
    head, rest = html.split("<br><br>Options:<br>")
    options_part, answer = rest.split("<br><br>ANSWER. ")
    question, _, hint = head.removeprefix("QUESTION. ").partition("<br>HINT. ")
    options = re.split(r"<br>(?=[A-D]\.)", options_part)
    fields = {m.group(1): m.group(2).replace("<br>", "\n") for m in (re.match(r"([A-D])\.\s?(.*)", o, re.S) for o in options)}
    return {"question": question, "hint": hint or None, **fields, "answer": answer.removesuffix("<br>").strip()}


def mmbench_rows() -> list[dict]:
    """The 20 English dev questions of the README, in VLMEvalKit's TSV layout."""
    text = (MMBENCH / "README.md").read_text(encoding="utf-8").split("## MMBench (EN / CN)")[1]
    rows, pending_cats, pending_imgs, lang = [], [], [], 0
    for tr in re.findall(r"<tr>(.*?)</tr>", text, re.S):
        if "<th" in tr:
            pending_cats = [tuple(c.split(":<br>")) for c in re.findall(r"<b>(.*?)</b>", tr)]
        elif "<img" in tr:
            pending_imgs, lang = re.findall(r'src="MMBench/(\d+)\.jpg"', tr), 0
        else:
            lang += 1
            if lang != 1:  # the second text row is the Chinese version (MMBench-CN)
                continue
            for img, (l2, cat), cell in zip(pending_imgs, pending_cats, re.findall(r"<p>(.*?)</p>", tr, re.S), strict=True):
                data = (MMBENCH / "MMBench" / f"{img}.jpg").read_bytes()
                rows.append({"index": int(img), **_cell(cell), "category": cat, "l2-category": l2,
                             "split": "dev", "image": base64.b64encode(data).decode()})  # fmt: skip
    return rows


def _rolled(row: dict, k: int) -> dict:
    """CircularEval copy ``k`` as stored in the VLMEvalKit TSV: options rolled, image by reference."""
    letters = [x for x in "ABCD" if row.get(x)]
    texts = [row[x] for x in letters]
    rolled = texts[k:] + texts[:k]
    copy = {**row, "index": row["index"] + k * 1_000_000, "image": str(row["index"])}
    copy.update(dict(zip(letters, rolled, strict=True)))
    copy["answer"] = letters[rolled.index(row[row["answer"]])]
    return copy


@pytest.fixture(scope="module")
def tsv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = mmbench_rows()
    copies = [_rolled(r, k) for r in rows if r["index"] in (318, 2222, 862) for k in range(1, len([x for x in "ABCD" if r.get(x)]))]
    dangling = {**_rolled(rows[0], 1), "index": 1_000_000 * 3 + rows[0]["index"], "image": "424242"}
    out = tmp_path_factory.mktemp("mmbench")
    write_tsv(out / "MMBench_DEV_EN.tsv", rows + copies + [dangling])
    return out


def test_readme_yields_twenty_real_questions() -> None:
    rows = mmbench_rows()
    assert len(rows) == 20 and len({r["index"] for r in rows}) == 20
    assert sum(bool(r.get("D")) for r in rows) == 18  # two questions have three options


def test_mmbench_loads_real_questions_with_gold_and_images(tsv_dir: Path) -> None:
    result = mmbench.load(data_dir=tsv_dir)
    by_index = {s.metadata["index"]: s for s in result}
    assert len(result) == 20 and result.rejects == []  # copies (index >= 1e6) dropped by default
    for row in mmbench_rows():
        s = by_index[row["index"]]
        assert s.gold_letter == row["answer"] and s.options[s.gold_index] == row[row["answer"]]
    trucks = by_index[672]
    assert trucks.question == "How many trucks are in this photo?" and trucks.options == ["six", "five", "seven", "eight"]
    assert trucks.metadata["category"] == "Object Localization"
    assert trucks.metadata["parent_category"] == "Finegrained Perception (instance-level)"
    code = by_index[1]
    assert code.options[3].startswith('fruits = ["apple", "banana", "cherry"]\n') and code.gold_letter == "D"
    hinted = by_index[318]
    assert hinted.metadata["hint"].startswith("The diagram below is a model of two solutions.")
    assert hinted.question == hinted.metadata["hint"] + "\nWhich solution has a higher concentration of green particles?"
    assert hinted.options == ["neither; their concentrations are the same", "Solution B", "Solution A"]
    with Image.open(MMBENCH / "MMBench" / "318.jpg") as original:
        assert hinted.load_images()[0].size == original.size


def test_mmbench_circular_copies_share_images_by_reference(tsv_dir: Path) -> None:
    result = mmbench.load(data_dir=tsv_dir, circular=True)
    groups: dict[str, list] = {}
    for s in result:
        groups.setdefault(s.metadata["groups"]["circular"], []).append(s)
    assert len(groups) == 20
    eggs = groups["mmbench-2222"]
    assert [s.metadata["index"] for s in eggs] == [2222, 1_002_222, 2_002_222]
    assert {s.options[s.gold_index] for s in eggs} == {"The egg will be broken"}
    assert [s.gold_index for s in eggs] == [2, 1, 0]
    assert eggs[1].metadata["augmentation"] == "circular:1" and "augmentation" not in eggs[0].metadata
    assert eggs[2].load_images()[0].tobytes() == eggs[0].load_images()[0].tobytes()
    assert record_extras(eggs[1])["group_circular"] == "mmbench-2222"
    (bad,) = result.rejects
    assert bad.sample_id == "mmbench-3000001" and "424242" in bad.problem


def test_mmbench_limit_counts_questions_and_keeps_copies(tsv_dir: Path) -> None:
    picked = mmbench.load(data_dir=tsv_dir, circular=True, limit=20, seed=0)
    assert len({s.metadata["groups"]["circular"] for s in picked}) == 20
    few = mmbench.load(data_dir=tsv_dir, circular=True, limit=4, seed=4)
    sizes = {}
    for s in few:
        sizes[s.metadata["groups"]["circular"]] = sizes.get(s.metadata["groups"]["circular"], 0) + 1
    # seed 4 draws two questions that have copies in the file: all their copies come along
    assert sizes == {"mmbench-1": 1, "mmbench-2318": 1, "mmbench-318": 3, "mmbench-862": 4}
    assert {s.id for s in mmbench.load(data_dir=tsv_dir, circular=True, limit=2, seed=4)} < {s.id for s in few}


def test_geometry3k_original_folders() -> None:
    out = geometry3k.load(data_dir=GEO, split="train")
    assert len(out) == 10 and out.rejects == []
    for s in out:
        data = json.loads((GEO / str(s.metadata["source_id"]) / "data.json").read_text())
        assert s.question == data["problem_text"] and s.options == data["choices"]
        assert s.gold_letter == data["answer"]
    by_id = {s.metadata["source_id"]: s for s in out}
    assert by_id[11].options[by_id[11].gold_index] == "80" and by_id[11].metadata["category"] == "Angle"
    assert by_id[15].options[2] == "5 \\sqrt { 3 }"  # LaTeX-ish choices kept verbatim
    img = by_id[11].load_images()[0]
    assert img.mode == "RGB" and img.size == (250, 251)  # RGBA PNG decoded to RGB
    assert geometry3k.load(data_dir=GEO, split="test") == []  # every example is a train problem


def test_geometry3k_broken_folder_is_a_reject(tmp_path: Path) -> None:
    import shutil

    shutil.copytree(GEO / "12", tmp_path / "12")
    shutil.copytree(GEO / "13", tmp_path / "13")
    (tmp_path / "13" / "img_diagram.png").unlink()
    (tmp_path / "14").mkdir()
    (tmp_path / "14" / "data.json").write_text("{not json")
    out = geometry3k.load(data_dir=tmp_path, split=None)
    assert [s.id for s in out] == ["geometry3k-12"]
    problems = {r.sample_id: r.problem for r in out.rejects}
    assert "img_diagram.png" in problems["geometry3k-13"] and "unreadable data.json" in problems["geometry3k-14"]
