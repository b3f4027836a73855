"""Shard assignment: stable across processes, disjoint, complete; ``shard`` in config and identity."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from robustcot.config import EvalConfig, load_eval_config
from robustcot.data.adapters.common import LoadResult, Reject
from robustcot.data.synthetic import synthetic_samples
from robustcot.distributed.shards import Shard, parse_shard, select_shard, shard_of
from robustcot.errors import ConfigError
from robustcot.store import RunStore

IDS = [f"sample-{i}" for i in range(300)]


def test_parse_shard_accepts_i_of_n():
    assert parse_shard("1/4") == Shard(1, 4)
    assert parse_shard(" 02 / 3 ") == Shard(2, 3)
    assert str(parse_shard("0/1")) == "0/1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("4/4", "index 4 is out of range for 4 shards"),
        ("1/0", "count must be at least 1"),
        ("1-4", "must be written i/n"),
        ("-1/4", "must be written i/n"),
        ("a/b", "must be written i/n"),
        ("", "must be written i/n"),
    ],
)
def test_parse_shard_rejects_bad_text_clearly(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_shard(text)


def test_assignment_is_pinned_and_independent_of_python_hash_seed():
    # pinned values: changing the rule would silently reassign the samples of existing shard runs
    assert [shard_of(f"synthetic-0-{i}", 2) for i in range(6)] == [0, 1, 0, 0, 0, 1]
    code = f"from robustcot.distributed.shards import shard_of; print([shard_of(i, 7) for i in {IDS[:50]!r}])"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {f"{[shard_of(i, 7) for i in IDS[:50]]}\n"}


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_shards_are_disjoint_and_cover_every_sample(count):
    owners = {sid: [i for i in range(count) if Shard(i, count).owns(sid)] for sid in IDS}
    assert all(len(o) == 1 for o in owners.values())
    sizes = [sum(o == [i] for o in owners.values()) for i in range(count)]
    assert sum(sizes) == len(IDS)
    assert min(sizes) > 0.5 * len(IDS) / count  # roughly balanced, not all in one shard


def test_select_shard_splits_samples_and_rejects_by_the_same_rule():
    samples = LoadResult(
        synthetic_samples(6, seed=0),
        [Reject(f"bad-{i}", "synthetic", "unreadable") for i in range(10)],
    )
    parts = [select_shard(samples, f"{i}/3") for i in range(3)]
    assert sorted(s.id for p in parts for s in p) == sorted(s.id for s in samples)
    assert sorted(r.sample_id for p in parts for r in p.rejects) == sorted(
        r.sample_id for r in samples.rejects
    )
    for i, part in enumerate(parts):
        assert all(shard_of(s.id, 3) == i for s in part)
        assert all(shard_of(r.sample_id, 3) == i for r in part.rejects)
    assert select_shard(samples, None) is samples


def test_config_normalises_shard_and_puts_it_in_the_identity():
    config = EvalConfig(shard=" 1 / 4")
    assert config.shard == "1/4"
    assert config.identity("v")["shard"] == "1/4"
    assert EvalConfig().identity("v")["shard"] is None
    with pytest.raises(ConfigError, match="out of range"):
        load_eval_config(None, {"shard": "4/4"})


def test_a_shard_directory_refuses_to_resume_as_another_shard(tmp_path):
    RunStore(tmp_path).open(EvalConfig(shard="0/2").identity("v"), {})
    with pytest.raises(ConfigError, match="shard: run has '0/2', now '1/2'"):
        RunStore(tmp_path).open(EvalConfig(shard="1/2").identity("v"), {})
    with pytest.raises(ConfigError, match="shard: run has '0/2', now '0/3'"):
        RunStore(tmp_path).open(EvalConfig(shard="0/3").identity("v"), {})
