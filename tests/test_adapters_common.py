"""Shared adapter machinery: selection, rotations, rejects, TSV image references, row sources."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.formats import b64, png, struct, write_parquet, write_tsv
from robustcot.data.adapters.common import (
    Collector,
    LoadResult,
    RowError,
    collect,
    letter_index,
    lettered_options,
    rejects_of,
    rotations,
    select_groups,
    shuffled,
)
from robustcot.data.adapters.media import image_from_base64, image_from_field
from robustcot.data.adapters.open_ended import OpenSample, parse_integer, score_open
from robustcot.data.adapters.rows import ConcatRows, ListRows, read_tsv
from robustcot.data.adapters.tsv import image_table, tsv_images
from robustcot.data.sample import Sample


def _sample(i: int = 0, n: int = 4, gold: int = 1) -> Sample:
    return Sample(
        id=f"s{i}", benchmark="t", images=[png()], question="Q?", options=[f"o{k}" for k in range(n)],
        gold_index=gold, option_statements=[f"It is o{k}." for k in range(n)],
    )  # fmt: skip


def test_select_groups_is_seeded_nested_and_keeps_groups_whole() -> None:
    keys = ["a", "a", "b", "c", "c", "c", "d", "e"]
    assert select_groups(keys, None, 0) == list(range(8))
    small, large = select_groups(keys, 2, seed=3), select_groups(keys, 4, seed=3)
    assert set(small) <= set(large) and small == sorted(small)
    for picked in (small, large):
        chosen = {keys[i] for i in picked}
        assert picked == [i for i, k in enumerate(keys) if k in chosen]  # whole groups, source order
    assert len({keys[i] for i in large}) == 4
    draws = {tuple(select_groups(keys, 1, seed=s)) for s in range(20)}
    assert len(draws) > 2  # the seed matters


def test_shuffled_depends_only_on_seed_and_key() -> None:
    opts = ["right", "w1", "w2", "w3"]
    a = shuffled(opts, 0, 7, "x")
    assert a == shuffled(opts, 0, 7, "x")
    assert a[0][a[1]] == "right" and [opts[k] for k in a[2]] == a[0]
    golds = {shuffled(opts, 0, 7, f"key{i}")[1] for i in range(40)}
    assert golds == {0, 1, 2, 3}


def test_rotations_cover_every_position_and_rotate_statements() -> None:
    copies = rotations(_sample(gold=1))
    assert [c.id for c in copies] == ["s0", "s0@rot1", "s0@rot2", "s0@rot3"]
    assert sorted(c.gold_index for c in copies) == [0, 1, 2, 3]
    for c in copies:
        assert c.options[c.gold_index] == "o1" and c.option_statements[c.gold_index] == "It is o1."
        assert c.metadata["groups"]["circular"] == "s0"
    assert copies[1].options == ["o1", "o2", "o3", "o0"] and copies[1].metadata["augmentation"] == "circular:1"


def test_collector_turns_bad_rows_into_rejects() -> None:
    out = Collector("t")
    out.add("s0", lambda: _sample())
    out.add("dupe-options", lambda: Sample(id="dupe-options", benchmark="t", question="Q", options=["a", "A "], gold_index=0))
    out.add("no-field", lambda: {}["answer"])
    out.add("bad-letter", lambda: letter_index("(F)", 4))
    result = out.result()
    assert isinstance(result, list) and isinstance(result, LoadResult) and [s.id for s in result] == ["s0"]
    problems = {r.sample_id: r.problem for r in result.rejects}
    assert problems["dupe-options"] == "has duplicate options: ['a']"  # unwrapped from pydantic
    assert problems["no-field"] == "missing field 'answer'"
    assert "no option" in problems["bad-letter"]
    assert rejects_of(result) == result.rejects and rejects_of([_sample()]) == []
    with pytest.raises(ZeroDivisionError):  # a programming error is not a malformed row
        out.add("bug", lambda: 1 / 0)


def test_collect_rejects_duplicate_ids_and_honours_eligible() -> None:
    rows = ListRows([{"n": 0}, {"n": 1}, {"n": 2}])
    result = collect("t", rows, ["a", "b", "a"], lambda row, sid: _sample(row["n"]), limit=None, seed=0)
    assert [s.id for s in result] == ["s0", "s1"] and result.rejects[0].problem.startswith("duplicate sample id")
    only = collect("t", rows, ["a", "b", "c"], lambda row, sid: _sample(row["n"]), limit=None, seed=0, eligible=[2])
    assert [s.id for s in only] == ["s2"]


def test_letters_and_lettered_columns() -> None:
    assert [letter_index(x, 4) for x in ("C", "(C)", " c. ", "(A)")] == [2, 2, 2, 0]
    with pytest.raises(RowError):
        letter_index("C and D", 4)
    opts, letters = lettered_options({"A": "x", "B": float("nan"), "C": "None", "D": "nan", "E": ""})
    assert opts == ["x", "None"] and letters == ["A", "C"]  # 'None' is an option text, 'nan' is missing


def test_tsv_images_follow_references_and_lists(tmp_path: Path) -> None:
    red, blue = b64(png((255, 0, 0))), b64(png((0, 0, 255)))
    rows = read_tsv(write_tsv(tmp_path / "x.tsv", [
        {"index": 7, "image": red, "question": "q"},
        {"index": 1000007, "image": "7", "question": "q"},
        {"index": 8, "image": str([red, blue]), "question": "q"},
        {"index": 9, "image": "12345", "question": "q"},
    ]))  # fmt: skip
    table = image_table(rows)
    r = rows.take(range(4))
    assert tsv_images(r[1], table)[0].load().getpixel((0, 0)) == (255, 0, 0)
    assert [i.load().getpixel((0, 0)) for i in tsv_images(r[2], table)] == [(255, 0, 0), (0, 0, 255)]
    with pytest.raises(RowError, match="12345"):
        tsv_images(r[3], table)
    assert str(r[0]["index"]) == "7"  # read as text: ids are never re-typed by pandas


def test_image_fields() -> None:
    data = png()
    assert image_from_field(struct(data)).data == data
    assert image_from_base64("data:image/png;base64," + b64(data)).data == data
    with pytest.raises(RowError, match="base64"):
        image_from_base64("%%% not base64 %%%")
    with pytest.raises(RowError, match="not found"):
        image_from_field("missing.jpg", [Path("/nonexistent")])


def test_parquet_and_concat_rows_materialise_only_taken_rows(tmp_path: Path) -> None:
    from robustcot.data.adapters.rows import read_parquet

    p1 = write_parquet(tmp_path / "a.parquet", [{"id": i, "image": struct(png())} for i in range(3)])
    p2 = write_parquet(tmp_path / "b.parquet", [{"id": 10 + i, "image": struct(png())} for i in range(2)])
    both = ConcatRows([read_parquet([p1]), read_parquet([p2])])
    assert len(both) == 5 and both.column("id") == [0, 1, 2, 10, 11]
    taken = both.take([4, 0, 3])
    assert [r["id"] for r in taken] == [11, 0, 10] and taken[0]["image"]["bytes"] == png()


def test_hub_rows_reads_a_local_parquet_through_datasets(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    from robustcot.data.adapters.rows import hub_rows

    ds = datasets.Dataset.from_dict(
        {"image": [struct(png())] * 2, "q": ["a", "b"]},
        features=datasets.Features({"image": datasets.Image(), "q": datasets.Value("string")}),
    )
    ds.to_parquet(str(tmp_path / "hf.parquet"))  # the hub's own parquet layout (HF Image feature)
    rows = hub_rows("parquet", data_files=str(tmp_path / "hf.parquet"), split="train", cache_dir=str(tmp_path / "c"))
    assert rows.column("q") == ["a", "b"]
    (row,) = rows.take([1])
    assert row["q"] == "b" and isinstance(row["image"]["bytes"], bytes)  # not decoded to PIL


def test_open_sample_validation_and_integer_scoring() -> None:
    s = OpenSample(id="p", benchmark="t", question="How many?", answer="7", answer_type="integer")
    assert [score_open(s, x) for x in ("7", "seven apples", "There are 8", "none", "")] == [True, True, False, None, None]
    assert parse_integer("I see 3, no wait, four") == 3 and parse_integer("four, no: 3") == 4
    with pytest.raises(ValueError, match="not an integer"):  # pydantic wraps the SampleError
        OpenSample(id="p", benchmark="t", question="How many?", answer="many", answer_type="integer")
