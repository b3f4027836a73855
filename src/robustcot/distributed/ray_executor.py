"""Run the shards of one evaluation as Ray tasks, then merge them into the run directory.

Each task is an ordinary ``run_eval`` of one shard into ``<out>/shard-i-of-n/``, so everything a
single run guarantees still holds per shard: a task that dies (worker crash, preempted node) is
retried by Ray and the retry resumes from the batches already written, and re-running the whole
command after a failure only generates what is missing. The shard directories must be on a
filesystem the driver can read (the local disk for a single machine, shared storage for a
cluster), because the driver merges them.
"""

from __future__ import annotations

from pathlib import Path

from robustcot.config import EvalConfig
from robustcot.distributed.merge import merge_runs
from robustcot.distributed.shards import Shard
from robustcot.errors import ConfigError, RobustCoTError

#: Ray retries a task this often when its worker process dies (not when it raises).
MAX_RETRIES = 3


class ShardRunError(RobustCoTError):
    """One or more shard tasks failed; the shards that finished are kept for the next attempt."""


def shard_dir(out: Path, shard: Shard) -> Path:
    """Where shard ``shard`` of a sharded run in ``out`` writes its own run directory."""
    return Path(out) / f"shard-{shard.index}-of-{shard.count}"


def shard_configs(config: EvalConfig, n_shards: int) -> list[EvalConfig]:
    """One config per shard: the same settings, ``shard = i/n``, output in its shard directory.

    Paths are made absolute here, in the driver: a Ray worker does not run in the driver's
    working directory, so a relative ``out`` or ``data_dir`` would point elsewhere there.
    """
    if config.shard is not None:
        raise ConfigError(
            f"the configuration already names shard {config.shard}; a sharded run makes its own"
        )
    if n_shards < 1:
        raise ConfigError(f"the number of shards must be at least 1, got {n_shards}")
    out = Path(config.out).resolve()
    data_dir = None if config.data_dir is None else Path(config.data_dir).resolve()
    return [
        config.model_copy(update={"shard": str(s), "out": shard_dir(out, s), "data_dir": data_dir})
        for s in (Shard(i, n_shards) for i in range(n_shards))
    ]


def task_resources(config: EvalConfig, cluster_gpus: float) -> dict[str, float]:
    """CPUs and GPUs one shard task reserves, from the backend its model spec selects.

    An API model needs no GPU; vLLM needs ``tensor_parallel_size`` GPUs; a transformers model needs
    one GPU unless its device is ``cpu`` (``auto`` takes one only if the cluster has GPUs).
    """
    if config.model.startswith("openai:"):
        return {"num_cpus": 1, "num_gpus": 0}
    if config.model.startswith("vllm:"):
        return {"num_cpus": 1, "num_gpus": config.vllm.tensor_parallel_size}
    device = config.hf.device
    wants_gpu = device.startswith("cuda") or (device == "auto" and cluster_gpus > 0)
    return {"num_cpus": 1, "num_gpus": 1 if wants_gpu else 0}


def _evaluate_shard(config: EvalConfig) -> str:
    """Body of one Ray task; returns the shard's run directory (a string pickles everywhere)."""
    from robustcot.evaluate import run_eval

    return str(run_eval(config, show_progress=False).run_dir)


def run_sharded_with_ray(
    config: EvalConfig, n_shards: int, *, address: str | None = None, max_retries: int = MAX_RETRIES
) -> list[Path]:
    """Evaluate ``config`` as ``n_shards`` Ray tasks and merge them into ``config.out``.

    Connects to the cluster at ``address`` (``"auto"`` for a running one), starts a local Ray
    instance when ``address`` is ``None`` and none is running, or uses the instance this process
    already initialised. Returns the shard run directories; the merge is strict, so returning at
    all means ``config.out`` holds the complete evaluation.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install ray") from None
    configs = shard_configs(config, n_shards)
    started = not ray.is_initialized()
    if started:
        ray.init(address=address)
    try:
        resources = task_resources(config, ray.cluster_resources().get("GPU", 0))
        task = ray.remote(_evaluate_shard).options(max_retries=max_retries, **resources)
        refs = [task.remote(c) for c in configs]
        dirs, failed = [], []
        for c, ref in zip(configs, refs, strict=True):
            try:  # wait for every shard, so one failure does not abandon the others mid-run
                dirs.append(Path(ray.get(ref)))
            except Exception as exc:
                failed.append(f"shard {c.shard}: {getattr(exc, 'cause', None) or exc}")
    finally:
        if started:
            ray.shutdown()
    if failed:
        raise ShardRunError(
            f"{len(failed)} of {n_shards} shards failed ({'; '.join(failed)}); "
            "run the same command again to resume them"
        )
    merge_runs(dirs, config.out)
    return dirs
