"""The ``organism`` model spec: where the trained organism lives, and its backend.

A checkpoint made by :func:`robustcot.organism.sft.train_sft` with the default
:class:`~robustcot.organism.sft.SFTConfig` can ship inside the package (``checkpoint/``, ~6 MB);
then ``--model organism`` needs no training. Without it, the organism is trained once from the
same seed into the user cache, keyed by the training settings, and reused afterwards.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from platformdirs import user_cache_dir

from robustcot.models.base import Backend
from robustcot.models.registry import register_alias, register_backend

log = logging.getLogger(__name__)

PACKAGED = Path(__file__).with_name("checkpoint")


def _is_checkpoint(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def cache_dir(config: Any = None, cache_root: Path | None = None) -> Path:
    """Cache directory for the organism trained with ``config`` (default settings when None)."""
    from robustcot.organism.recipe import ARCHITECTURE
    from robustcot.organism.sft import SFTConfig

    settings = {"sft": (config or SFTConfig()).model_dump(), "architecture": ARCHITECTURE}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
    root = cache_root or Path(user_cache_dir("robustcot")) / "models"
    return root / f"organism-{key}"


def ensure_organism(cache_root: Path | None = None, *, packaged: Path = PACKAGED) -> Path:
    """Directory of the default organism: the packaged checkpoint, else a cached (or new) training run.

    Training writes to a temporary sibling and renames it into place, so a concurrent or
    interrupted run never leaves a half-written checkpoint behind.
    """
    if _is_checkpoint(packaged):
        return packaged
    target = cache_dir(cache_root=cache_root)
    if _is_checkpoint(target):
        return target
    from robustcot.organism.sft import SFTConfig, train_sft

    log.warning("the organism checkpoint is not packaged; training it once into %s (a few minutes)", target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".organism-", dir=target.parent))
    train_sft(SFTConfig(), tmp)
    try:
        os.rename(tmp, target)
    except OSError:  # another process finished first; its checkpoint comes from the same settings
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _organism(target: str, config: Any) -> Backend:
    from robustcot.models.hf import HFBackend

    return HFBackend(ensure_organism(), config.hf, name="organism")


register_backend("organism", _organism, lambda target: ensure_organism())
register_alias("organism", "organism")
