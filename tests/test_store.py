import json

import pytest

from robustcot.errors import ConfigError
from robustcot.records import COLUMNS, schema_markdown
from robustcot.store import RunStore


def _row(key, status="ok", **kw):
    return {"key": key, "sample_id": key.split("|")[0], "variant": "base", "status": status, **kw}


def test_append_is_one_file_per_batch_and_dedupes_newest_wins(tmp_path):
    store = RunStore(tmp_path / "run")
    store.open({"model": "m"}, {})
    store.append([_row("a|base|0", status="error", error="boom"), _row("b|base|0")])
    store.append([_row("a|base|0", response="fixed")])
    assert len(list((tmp_path / "run" / "parts").glob("*.arrow"))) == 2
    df = store.records()
    assert sorted(df["key"]) == ["a|base|0", "b|base|0"]
    assert df.set_index("key").loc["a|base|0", "response"] == "fixed"
    assert list(df.columns) == COLUMNS


def test_error_rows_are_not_done(tmp_path):
    store = RunStore(tmp_path)
    store.append([_row("a|base|0", status="error"), _row("b|base|0")])
    assert store.done_keys() == {"b|base|0"}
    assert store.done_keys(include_errors=True) == {"a|base|0", "b|base|0"}


def test_compact_folds_parts_and_keeps_rows(tmp_path):
    store = RunStore(tmp_path)
    store.append([_row("a|base|0")])
    store.append([_row("b|base|0")])
    table = store.compact()
    assert table.num_rows == 2
    assert not list((tmp_path / "parts").iterdir())
    store.append([_row("c|base|0")])
    assert sorted(store.records()["key"]) == ["a|base|0", "b|base|0", "c|base|0"]


def test_leftover_temp_files_are_ignored(tmp_path):
    store = RunStore(tmp_path)
    store.append([_row("a|base|0")])
    (tmp_path / "parts" / ".000001.arrow.tmp-999").write_bytes(b"torn write")
    assert list(store.records()["key"]) == ["a|base|0"]


def test_parquet_parts_of_earlier_versions_are_read_in_order(tmp_path):
    import pyarrow.parquet as pq

    from robustcot.store import rows_to_table

    (tmp_path / "parts").mkdir()
    pq.write_table(
        rows_to_table([_row("a|base|0", response="old"), _row("b|base|0")]),
        tmp_path / "parts" / "000000.parquet",
    )
    pq.write_table(rows_to_table([_row("a|base|0", response="newer")]), tmp_path / "parts" / "000001.parquet")
    store = RunStore(tmp_path)
    written = store.append([_row("c|base|0")])
    assert written.name == "000002.arrow"  # numbering continues after the old parts
    df = store.records().set_index("key")
    assert df.loc["a|base|0", "response"] == "newer" and sorted(df.index) == [
        "a|base|0",
        "b|base|0",
        "c|base|0",
    ]
    store.compact()
    assert not list((tmp_path / "parts").iterdir()) and len(store.records()) == 3


def test_open_refuses_a_run_with_other_settings(tmp_path):
    RunStore(tmp_path).open({"model": "a", "seed": 0}, {"versions": {}})
    RunStore(tmp_path).open({"model": "a", "seed": 0}, {})
    with pytest.raises(ConfigError, match="seed: run has 0, now 1"):
        RunStore(tmp_path).open({"model": "a", "seed": 1}, {})
    assert json.loads((tmp_path / "run.json").read_text())["identity"] == {"model": "a", "seed": 0}


def test_schema_doc_lists_required_columns():
    doc = schema_markdown()
    for col in (
        "sample_id",
        "benchmark",
        "variant",
        "abstain",
        "wrong_index",
        "prompt",
        "prefill",
        "response",
        "status",
        "answer_index",
        "correct",
        "letter_probs",
        "letter_mass",
        "entropy",
        "p_correct",
        "uncertainty_source",
        "judge_rule",
        "consistent",
        "quadrant",
        "latency_s",
        "error",
    ):
        assert f"`{col}`" in doc


def test_parts_written_here_are_not_read_back_unless_changed_on_disk(tmp_path, monkeypatch):
    from robustcot import store as store_module
    from robustcot.store import atomic_write_table, rows_to_table

    store = RunStore(tmp_path)
    first = store.append([_row("a|base|0", response="mine")])
    reads = []
    real_read = store_module.read_part
    monkeypatch.setattr(store_module, "read_part", lambda path: reads.append(path) or real_read(path))
    assert list(store.records()["response"]) == ["mine"] and reads == []
    atomic_write_table(first, rows_to_table([_row("a|base|0", response="someone else's, longer")]))
    assert list(store.records()["response"]) == ["someone else's, longer"] and reads == [first]


def test_part_numbers_keep_increasing_and_skip_names_taken_meanwhile(tmp_path):
    store = RunStore(tmp_path)
    assert store.append([_row("a|base|0")]).name == "000000.arrow"
    other = RunStore(tmp_path)
    assert other.append([_row("b|base|0")]).name == "000001.arrow"
    assert store.append([_row("c|base|0")]).name == "000002.arrow"  # 000001 was taken: rescanned
    store.compact()
    assert store.append([_row("d|base|0")]).name == "000003.arrow"
    assert sorted(store.records()["key"]) == ["a|base|0", "b|base|0", "c|base|0", "d|base|0"]
