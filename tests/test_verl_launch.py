"""The verl command: built from a preset, accepted by verl 0.9's own Hydra config and validator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustcot.errors import ConfigError
from robustcot.prompting.profile import get_profile
from robustcot.prompting.profiles import CHECKPOINT_PROFILE_FILE
from robustcot.train import verl_reward
from robustcot.train.judge_http import JudgeEndpoint
from robustcot.train.verl_launch import build_verl_command, launch_verl


@pytest.fixture
def data_dir(tmp_path):
    (tmp_path / "data" / "verl").mkdir(parents=True)
    (tmp_path / "data" / "verl" / "train.parquet").write_bytes(b"")
    return tmp_path / "data"


def _args(launch) -> dict[str, str]:
    return dict(a.split("=", 1) for a in launch.argv[3:])


def test_study_preset(data_dir, tmp_path):
    launch = build_verl_command("study", data=data_dir, out=tmp_path / "run", seed=3, faithfulness="rule")
    assert launch.argv[1:3] == ["-m", "verl.trainer.main_ppo"]
    args = _args(launch)
    assert args["algorithm.adv_estimator"] == "grpo"
    assert args["actor_rollout_ref.rollout.n"] == "8"
    assert args["trainer.save_freq"] == "250"
    assert args["actor_rollout_ref.model.path"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert {
        args[k]
        for k in ("data.seed", "actor_rollout_ref.rollout.seed", "actor_rollout_ref.actor.data_loader_seed")
    } == {"3"}
    assert Path(args["reward.custom_reward_function.path"]) == Path(verl_reward.__file__).resolve()
    assert args["+reward.custom_reward_function.reward_kwargs.faithfulness"] == "rule"
    assert args["data.val_files"] == args["data.train_files"] and args["trainer.test_freq"] == "-1"
    assert launch.experiment == "study-rule-seed3"
    assert args["trainer.default_local_dir"] == str((tmp_path / "run" / "checkpoints").resolve())


def test_accepted_by_verls_config(data_dir, tmp_path):
    verl = pytest.importorskip("verl")
    from hydra import compose, initialize_config_dir
    from verl.trainer.main_ppo import need_critic, need_reference_policy
    from verl.utils.config import validate_config

    (data_dir / "verl" / "val.parquet").write_bytes(b"")
    judge = JudgeEndpoint("http://judge:8000/v1", "Qwen/Qwen3-32B")
    launch = build_verl_command("study", data=data_dir, out=tmp_path / "run", faithfulness="llm", judge=judge)
    config_dir = str(Path(verl.__file__).parent / "trainer" / "config")
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        config = compose("ppo_trainer", overrides=launch.argv[3:])
    assert config.actor_rollout_ref.rollout.n == 8
    assert config.reward.custom_reward_function.reward_kwargs.judge_model == "Qwen/Qwen3-32B"
    assert config.actor_rollout_ref.rollout.agent.agent_loop_config_path == str(launch.agent_config)
    assert config.data.val_files.endswith("val.parquet") and config.trainer.test_freq == 250
    with pytest.warns(UserWarning, match="critic"):  # GRPO has no critic; verl says so
        validate_config(
            config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config)
        )

    served = build_verl_command(
        "smoke", data=data_dir, out=tmp_path / "r2", faithfulness="llm", judge_model_path="Qwen/Qwen3-32B"
    )
    with initialize_config_dir(config_dir=config_dir, version_base=None):
        config = compose("ppo_trainer", overrides=served.argv[3:])
    assert config.reward.reward_model.enable and config.reward.reward_model.model_path == "Qwen/Qwen3-32B"


def test_dry_run_writes_files_and_prints(data_dir, tmp_path, capsys):
    launch = build_verl_command(
        "smoke", data=data_dir, out=tmp_path / "run", overrides=["trainer.total_training_steps=3"]
    )
    assert launch_verl(launch, dry_run=True) == 0
    printed = capsys.readouterr().out
    assert "verl.trainer.main_ppo" in printed and "trainer.total_training_steps=3" in printed
    assert printed.count("trainer.total_training_steps=") == 1  # the override replaced the preset's value
    assert "robustcot_prefill" in launch.agent_config.read_text()
    assert (tmp_path / "run" / "command.sh").read_text().strip().endswith(launch.shell())
    assert launch.profile is None  # no manifest beside the data: nothing to record
    assert not (launch.checkpoint_dir / CHECKPOINT_PROFILE_FILE).exists()


def test_launch_records_the_exported_profile(tmp_path):
    """The checkpoint root names the profile the data were rendered with (merge_verl copies it into
    each merged model); an explicit profile wins over the manifest's."""
    pytest.importorskip("datasets")
    from robustcot.train.export import prepare

    data = prepare("synthetic:4", tmp_path / "data", seed=0, augment=False, profile=get_profile("r1")).out
    launch = build_verl_command("smoke", data=data, out=tmp_path / "run")
    assert launch.profile == "r1"
    assert launch_verl(launch, dry_run=True) == 0
    record = launch.checkpoint_dir / CHECKPOINT_PROFILE_FILE
    assert json.loads(record.read_text()) == {"prompt_profile": "r1"}

    named = build_verl_command("smoke", data=data, out=tmp_path / "run2", profile="vision-r1")
    launch_verl(named, dry_run=True)
    assert json.loads((named.checkpoint_dir / CHECKPOINT_PROFILE_FILE).read_text()) == {
        "prompt_profile": "vision-r1"
    }


def test_errors(data_dir, tmp_path):
    with pytest.raises(ConfigError, match="preset"):
        build_verl_command("huge", data=data_dir, out=tmp_path)
    with pytest.raises(ConfigError, match="prepare"):
        build_verl_command(data=tmp_path / "nothing", out=tmp_path)
    with pytest.raises(ConfigError, match="judge"):
        build_verl_command(data=data_dir, out=tmp_path, faithfulness="llm")
