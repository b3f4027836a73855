"""The verl GRPO launch: one function that turns a preset and a prepared data directory into a command.

``build_verl_command("study", data=..., out=..., seed=1)`` returns the full
``python -m verl.trainer.main_ppo key=value ...`` argv for the study's recipe: Qwen2.5-VL-7B-Instruct,
GRPO with G = 8 rollouts, reward = 0.1·format + 1.0·accuracy (optionally × faithfulness) through
:mod:`robustcot.train.verl_reward`, injected thinks through :mod:`robustcot.train.verl_agent`, a
checkpoint every 250 steps, rollouts dumped for :mod:`robustcot.train.rollouts`, and every seed
verl exposes set from ``seed``. :func:`launch_verl` writes the agent-loop file and runs the command,
or only prints it (``dry_run``). Keys are verl 0.9's (checked against its Hydra config in tests).

verl saves no file of ours into its checkpoints, so :func:`launch_verl` records the prompt profile
the data were exported with in the checkpoint root (``checkpoints/robustcot_profile.json``) and
:func:`robustcot.train.checkpoints.merge_verl` copies it into each merged model, which is then
evaluated with the prompts it was trained on.

Values the study does not report (batch sizes, lengths, learning rate, KL) follow verl's own
Qwen2.5-VL-7B GRPO example; override any key with ``overrides=["key=value", ...]``.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from robustcot.errors import ConfigError
from robustcot.prompting.profiles import write_checkpoint_profile
from robustcot.train.export import AGENT_NAME, exported_profile
from robustcot.train.judge_http import JudgeEndpoint
from robustcot.train.rewards import FAITHFULNESS


@dataclass(frozen=True)
class VerlPreset:
    """Recipe values that differ between presets."""

    model: str
    rollout_n: int
    save_freq: int
    total_training_steps: int
    train_batch_size: int
    ppo_mini_batch_size: int
    n_gpus_per_node: int
    tensor_parallel: int
    max_prompt_length: int = 2048
    max_response_length: int = 2048
    learning_rate: float = 1e-6
    kl_loss_coef: float = 0.01
    gpu_memory_utilization: float = 0.6


PRESETS: dict[str, VerlPreset] = {
    # The study: Qwen2.5-VL-7B, G = 8, checkpoints every 250 steps (4 over 1000 steps) on one 8-GPU node.
    "study": VerlPreset(
        model="Qwen/Qwen2.5-VL-7B-Instruct",
        rollout_n=8,
        save_freq=250,
        total_training_steps=1000,
        train_batch_size=128,
        ppo_mini_batch_size=64,
        n_gpus_per_node=8,
        tensor_parallel=2,
    ),
    # A pipeline check on one GPU: Qwen2.5-VL-3B, short run, same code paths.
    "smoke": VerlPreset(
        model="Qwen/Qwen2.5-VL-3B-Instruct",
        rollout_n=4,
        save_freq=5,
        total_training_steps=10,
        train_batch_size=8,
        ppo_mini_batch_size=8,
        n_gpus_per_node=1,
        tensor_parallel=1,
        max_prompt_length=1536,
        max_response_length=512,
    ),
}


@dataclass
class VerlLaunch:
    """A built command and the files it needs next to it."""

    argv: list[str]
    out: Path
    agent_config: Path
    agent_config_text: str
    experiment: str
    checkpoint_dir: Path
    rollout_dir: Path
    #: Prompt profile the training data were rendered with (None: unknown, nothing is recorded).
    profile: str | None = None

    def shell(self) -> str:
        return shlex.join(self.argv)


def agent_loop_yaml() -> str:
    """verl agent-loop registry entry for the prefill loop (``agent_loop_config_path`` file)."""
    return f"- name: {AGENT_NAME}\n  _target_: robustcot.train.verl_agent.PrefillAgentLoop\n"


def _reward_file() -> Path:
    from robustcot.train import verl_reward

    return Path(verl_reward.__file__).resolve()


def _judge_overrides(
    faithfulness: str, judge: JudgeEndpoint | None, judge_model_path: str | None
) -> list[str]:
    """reward_kwargs for the faithfulness variant; a verl-served judge also enables the reward model."""
    kw = "+reward.custom_reward_function.reward_kwargs"
    out = [f"{kw}.faithfulness={faithfulness}"]
    if faithfulness != "llm":
        return out
    if judge is not None:
        out += [f"{kw}.judge_url={judge.base_url}", f"{kw}.judge_model={judge.model}"]
        out.append(f"{kw}.judge_timeout_s={judge.timeout_s}")
        return out
    if judge_model_path is None:
        raise ConfigError(
            "faithfulness='llm' needs a judge endpoint or judge_model_path (a verl-served judge)"
        )
    return [
        *out,
        "reward.reward_model.enable=True",
        f"reward.reward_model.model_path={judge_model_path}",
        "reward.reward_model.rollout.name=vllm",
    ]


def _key(override: str) -> str:
    """The config key of a Hydra override (``+a.b=1`` → ``a.b``)."""
    return override.split("=", 1)[0].lstrip("+~")


def build_verl_command(
    preset: str = "study",
    *,
    data: str | Path,
    out: str | Path,
    seed: int = 0,
    model: str | None = None,
    faithfulness: str = "none",
    judge: JudgeEndpoint | None = None,
    judge_model_path: str | None = None,
    n_gpus_per_node: int | None = None,
    loggers: Sequence[str] = ("console",),
    overrides: Sequence[str] = (),
    python: str = sys.executable,
    profile: str | None = None,
) -> VerlLaunch:
    """The verl GRPO command for ``preset`` on the data :func:`robustcot.train.export.prepare` wrote to ``data``.

    ``overrides`` (``key=value``) replace the preset's value of the same key or add new keys.
    ``profile`` (the prompt profile the data were rendered with, recorded for the checkpoints)
    defaults to the one ``prepare`` wrote in ``data``'s manifest.
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown verl preset {preset!r}; known: {', '.join(PRESETS)}")
    if faithfulness not in FAITHFULNESS:
        raise ConfigError(f"unknown faithfulness {faithfulness!r}; use one of {', '.join(FAITHFULNESS)}")
    p = PRESETS[preset]
    if model is not None:
        p = replace(p, model=model)
    if n_gpus_per_node is not None:
        p = replace(p, n_gpus_per_node=n_gpus_per_node)
    data, out = Path(data).resolve(), Path(out).resolve()
    train = data / "verl" / "train.parquet"
    if not train.exists():
        raise ConfigError(f"{train} not found; run `robustcot train prepare --out {data}` first")
    val = data / "verl" / "val.parquet"
    experiment = f"{preset}-{faithfulness}-seed{seed}"
    agent_config = out / "agent_loops.yaml"
    checkpoint_dir, rollout_dir = out / "checkpoints", out / "rollouts"
    loggers_list = "[" + ",".join(f"'{x}'" for x in loggers) + "]"
    args = [
        "algorithm.adv_estimator=grpo",
        "algorithm.use_kl_in_reward=False",
        f"data.train_files={train}",
        f"data.val_files={val if val.exists() else train}",
        f"data.train_batch_size={p.train_batch_size}",
        f"data.max_prompt_length={p.max_prompt_length}",
        f"data.max_response_length={p.max_response_length}",
        "data.filter_overlong_prompts=True",
        "data.truncation=error",
        "data.image_key=images",
        "data.shuffle=True",
        f"data.seed={seed}",
        f"actor_rollout_ref.model.path={p.model}",
        "actor_rollout_ref.model.use_remove_padding=True",
        "actor_rollout_ref.model.enable_gradient_checkpointing=True",
        f"actor_rollout_ref.actor.optim.lr={p.learning_rate}",
        f"actor_rollout_ref.actor.ppo_mini_batch_size={p.ppo_mini_batch_size}",
        "actor_rollout_ref.actor.use_dynamic_bsz=True",
        f"actor_rollout_ref.actor.ppo_max_token_len_per_gpu={3 * (p.max_prompt_length + p.max_response_length)}",
        "actor_rollout_ref.actor.use_kl_loss=True",
        f"actor_rollout_ref.actor.kl_loss_coef={p.kl_loss_coef}",
        "actor_rollout_ref.actor.kl_loss_type=low_var_kl",
        "actor_rollout_ref.actor.entropy_coeff=0",
        f"actor_rollout_ref.actor.data_loader_seed={seed}",
        f"actor_rollout_ref.actor.fsdp_config.seed={seed}",
        "actor_rollout_ref.rollout.name=vllm",
        f"actor_rollout_ref.rollout.n={p.rollout_n}",
        f"actor_rollout_ref.rollout.seed={seed}",
        f"actor_rollout_ref.rollout.tensor_model_parallel_size={p.tensor_parallel}",
        f"actor_rollout_ref.rollout.gpu_memory_utilization={p.gpu_memory_utilization}",
        "actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True",
        f"actor_rollout_ref.rollout.agent.agent_loop_config_path={agent_config}",
        "actor_rollout_ref.ref.log_prob_use_dynamic_bsz=True",
        "actor_rollout_ref.ref.fsdp_config.param_offload=True",
        f"reward.custom_reward_function.path={_reward_file()}",
        "reward.custom_reward_function.name=compute_score",
        *_judge_overrides(faithfulness, judge, judge_model_path),
        f"trainer.logger={loggers_list}",
        "trainer.project_name=robustcot",
        f"trainer.experiment_name={experiment}",
        f"trainer.n_gpus_per_node={p.n_gpus_per_node}",
        "trainer.nnodes=1",
        f"trainer.save_freq={p.save_freq}",
        f"trainer.test_freq={p.save_freq if val.exists() else -1}",
        f"trainer.val_before_train={val.exists()}",
        f"trainer.total_training_steps={p.total_training_steps}",
        f"trainer.default_local_dir={checkpoint_dir}",
        f"trainer.rollout_data_dir={rollout_dir}",
    ]
    replaced = {_key(o) for o in overrides}
    args = [a for a in args if _key(a) not in replaced] + list(overrides)
    return VerlLaunch(
        argv=[python, "-m", "verl.trainer.main_ppo", *args],
        out=out,
        agent_config=agent_config,
        agent_config_text=agent_loop_yaml(),
        experiment=experiment,
        checkpoint_dir=checkpoint_dir,
        rollout_dir=rollout_dir,
        profile=profile or exported_profile(data),
    )


def launch_verl(launch: VerlLaunch, *, dry_run: bool = False) -> int:
    """Write the agent-loop file and the command (``command.sh``), then run it unless ``dry_run``.

    The prompt profile, when known, is recorded in the checkpoint root, also on a dry run, so
    checkpoints of the printed command run by hand are recorded too.
    Returns verl's exit status (0 for a dry run). Running needs verl with its GPU stack (vLLM, Ray).
    """
    launch.out.mkdir(parents=True, exist_ok=True)
    if launch.profile is not None:
        launch.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        write_checkpoint_profile(launch.checkpoint_dir, launch.profile)
    launch.agent_config.write_text(launch.agent_config_text)
    (launch.out / "command.sh").write_text("#!/bin/sh\n" + launch.shell() + "\n")
    if dry_run:
        print(launch.shell())
        return 0
    return subprocess.run(launch.argv, cwd=launch.out, check=False).returncode
