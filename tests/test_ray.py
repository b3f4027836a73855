"""The Ray executor: shard configs and task resources, and a real round trip on a local Ray instance."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from robustcot.config import EvalConfig
from robustcot.distributed import ray_executor
from robustcot.distributed.merge import planned_keys
from robustcot.distributed.ray_executor import run_sharded_with_ray, shard_configs, task_resources
from robustcot.errors import ConfigError
from robustcot.models.hf import HFConfig
from robustcot.store import RunStore

CONFIG = EvalConfig(
    model="tiny", limit=3, variants=["base", "wrong_think"], hf=HFConfig(max_new_tokens=8, device="cpu")
)


def test_shard_configs_split_one_config_into_absolute_shard_directories(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    configs = shard_configs(CONFIG.model_copy(update={"out": Path("runs/x")}), 3)
    assert [c.shard for c in configs] == ["0/3", "1/3", "2/3"]
    assert [c.out for c in configs] == [tmp_path / "runs/x" / f"shard-{i}-of-3" for i in range(3)]
    assert all(
        c.model_dump(exclude={"shard", "out"}) == CONFIG.model_dump(exclude={"shard", "out"}) for c in configs
    )
    with pytest.raises(ConfigError, match="already names shard 0/2"):
        shard_configs(CONFIG.model_copy(update={"shard": "0/2"}), 2)
    with pytest.raises(ConfigError, match="at least 1"):
        shard_configs(CONFIG, 0)


def test_task_resources_follow_the_backend():
    assert task_resources(CONFIG, cluster_gpus=8) == {"num_cpus": 1, "num_gpus": 0}  # device: cpu
    auto = CONFIG.model_copy(update={"hf": HFConfig(device="auto")})
    assert task_resources(auto, cluster_gpus=0)["num_gpus"] == 0
    assert task_resources(auto, cluster_gpus=2)["num_gpus"] == 1
    vllm = EvalConfig.model_validate({"model": "vllm:some/model", "vllm": {"tensor_parallel_size": 4}})
    assert task_resources(vllm, cluster_gpus=8)["num_gpus"] == 4
    assert task_resources(EvalConfig(model="openai:gpt-x"), cluster_gpus=8)["num_gpus"] == 0


def _crash_once(config: EvalConfig) -> str:
    """Kill the worker process on a shard's first attempt, so only Ray's retry can finish it."""
    marker = Path(config.out).with_name(f"{Path(config.out).name}.crashed")
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os._exit(1)
    return ORIGINAL_TASK(config)


ORIGINAL_TASK = ray_executor._evaluate_shard


@pytest.mark.slow
def test_ray_round_trip_retries_crashed_workers_and_merges(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
        monkeypatch.setattr(ray_executor, "_evaluate_shard", _crash_once)
        out = tmp_path / "run"
        dirs = run_sharded_with_ray(CONFIG.model_copy(update={"out": out}), 2)
    finally:
        ray.shutdown()
    assert dirs == [out / "shard-0-of-2", out / "shard-1-of-2"]
    assert all(d.with_name(f"{d.name}.crashed").exists() for d in dirs)  # each shard died once, then retried
    order, _ = planned_keys(CONFIG, 2)
    merged = RunStore(out).records()
    assert list(merged["key"]) == order and (merged["status"] != "error").all()
    meta = json.loads((out / "run.json").read_text())
    assert meta["merge"]["complete"] and [s["shard"] for s in meta["shards"]] == ["0/2", "1/2"]
    assert meta["identity"]["shard"] is None
