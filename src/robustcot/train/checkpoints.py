"""Finding training checkpoints and turning each into a directory ``hf:<path>`` can evaluate.

* TRL writes ``checkpoint-<step>/`` with the weights, tokenizer and processor in HF format: it is
  evaluated as it is.
* verl writes ``global_step_<step>/actor/`` with sharded FSDP weights (``model_world_size_*``) and
  a ``huggingface/`` folder (config, tokenizer, processor). It is merged into HF format with verl's
  own merger, ``python -m verl.model_merger merge --backend fsdp``, run as a subprocess (it needs
  verl installed). When the merger could not save a processor (e.g. without torchvision), the
  processor files from ``huggingface/`` are copied next to the merged weights so that
  :func:`robustcot.models.processor.load_processor` resizes images as in training. The prompt
  profile record (``robustcot_profile.json``) that :func:`robustcot.train.verl_launch.launch_verl`
  writes into the checkpoint root is copied there too, so ``hf:<merged dir>`` is asked the way the
  policy was trained.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from robustcot.errors import ConfigError
from robustcot.prompting.profiles import CHECKPOINT_PROFILE_FILE

_TRL_RE = re.compile(r"checkpoint-(\d+)")
_VERL_RE = re.compile(r"global_step_(\d+)")
#: Files that make a directory loadable by the processor loader besides the weights.
PROCESSOR_FILES = (
    "preprocessor_config.json",
    "processor_config.json",
    "chat_template.jinja",
    "chat_template.json",
)


@dataclass(frozen=True)
class Checkpoint:
    """One saved policy: ``path`` is the TRL checkpoint dir or verl's ``actor`` dir."""

    step: int
    path: Path
    kind: Literal["trl", "verl"]


def find_checkpoints(root: str | Path) -> list[Checkpoint]:
    """TRL ``checkpoint-N`` and verl ``global_step_N/actor`` directories directly under ``root``, by step."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"checkpoint directory {root} does not exist")
    found = []
    for child in root.iterdir():
        if not child.is_dir():
            continue
        if (m := _TRL_RE.fullmatch(child.name)) and (child / "config.json").exists():
            found.append(Checkpoint(int(m.group(1)), child, "trl"))
        elif (m := _VERL_RE.fullmatch(child.name)) and (child / "actor").is_dir():
            found.append(Checkpoint(int(m.group(1)), child / "actor", "verl"))
    return sorted(found, key=lambda c: c.step)


def merge_verl(actor_dir: str | Path, target: str | Path) -> Path:
    """Merge a verl FSDP actor checkpoint into an HF model directory (kept if it already exists)."""
    actor_dir, target = Path(actor_dir), Path(target)
    if (target / "config.json").exists():
        _copy_profile_record(actor_dir, target)  # merged before the run recorded its profile
        return target
    if importlib.util.find_spec("verl") is None:
        raise ConfigError(
            f"{actor_dir} is a verl FSDP checkpoint; merging it needs verl (pip install verl==0.9.1), "
            f"or merge it yourself: python -m verl.model_merger merge --backend fsdp --local_dir {actor_dir} "
            f"--target_dir <dir>, and evaluate <dir>"
        )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [sys.executable, "-m", "verl.model_merger", "merge", "--backend", "fsdp"]
    cmd += ["--local_dir", str(actor_dir), "--target_dir", str(partial)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not (partial / "config.json").exists():
        tail = (done.stderr or done.stdout)[-2000:]
        raise RuntimeError(f"verl model merger failed for {actor_dir} (exit {done.returncode}):\n{tail}")
    hf_dir = actor_dir / "huggingface"
    for name in PROCESSOR_FILES:
        if (hf_dir / name).exists() and not (partial / name).exists():
            shutil.copy2(hf_dir / name, partial / name)
    _copy_profile_record(actor_dir, partial)
    partial.rename(target)
    return target


def _copy_profile_record(actor_dir: Path, target: Path) -> None:
    """Copy the prompt-profile record of ``actor_dir``'s run into ``target``, unless it has one.

    verl writes none of our files into its checkpoints, so the record lives in the checkpoint root
    (``global_step_N/..``, written by the launch); one in the actor dir itself is taken first.
    """
    if (target / CHECKPOINT_PROFILE_FILE).exists():
        return
    for directory in (actor_dir, actor_dir.parent.parent):
        if (record := directory / CHECKPOINT_PROFILE_FILE).is_file():
            shutil.copy2(record, target / CHECKPOINT_PROFILE_FILE)
            return


def model_dir(checkpoint: Checkpoint, merged_root: str | Path) -> Path:
    """An HF-format directory for ``checkpoint`` (verl ones merged under ``merged_root``)."""
    if checkpoint.kind == "trl":
        return checkpoint.path
    return merge_verl(checkpoint.path, Path(merged_root) / f"global_step_{checkpoint.step}")
