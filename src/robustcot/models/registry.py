"""Model spec strings (``tiny``, ``hf:<id>``, ...) → backends, through a scheme registry."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from robustcot.errors import ConfigError
from robustcot.models.base import Backend

BackendFactory = Callable[[str, Any], Backend]
_FACTORIES: dict[str, BackendFactory] = {}
#: target → the local directory whose weights a scheme's backend would load (None: not local).
WeightsLocator = Callable[[str], Path | None]
_LOCATORS: dict[str, WeightsLocator] = {}
#: Spec strings that stand for a whole spec (no ``scheme:`` prefix).
_ALIASES: dict[str, str] = {}


def register_backend(scheme: str, factory: BackendFactory, locate: WeightsLocator | None = None) -> None:
    """``factory(target, config)`` builds a backend for ``scheme:target`` specs; ``locate(target)``,
    if given, says where its weights are on disk without loading them."""
    _FACTORIES[scheme] = factory
    if locate is not None:
        _LOCATORS[scheme] = locate


def local_weights(spec: str) -> Path | None:
    """The local model directory ``spec`` loads, or None for remote and hub models."""
    scheme, target = parse_spec(spec)
    locate = _LOCATORS.get(scheme)
    return locate(target) if locate else None


def register_alias(name: str, scheme: str) -> None:
    _ALIASES[name] = scheme


def parse_spec(spec: str) -> tuple[str, str]:
    if spec in _ALIASES:
        return _ALIASES[spec], spec
    scheme, sep, target = spec.partition(":")
    if not sep or not target:
        known = ", ".join([*sorted(_ALIASES), *(f"{s}:<model>" for s in sorted(_FACTORIES))])
        raise ConfigError(f"model spec {spec!r} is not understood; use one of: {known}")
    if scheme not in _FACTORIES:
        raise ConfigError(f"unknown backend {scheme!r} in model spec {spec!r}; known: {', '.join(sorted(_FACTORIES))}")
    return scheme, target


def make_backend(spec: str, config: Any) -> Backend:
    """Build the backend for ``spec`` (``config`` is the run's :class:`~robustcot.config.EvalConfig`)."""
    scheme, target = parse_spec(spec)
    return _FACTORIES[scheme](target, config)


def _hf(target: str, config: Any) -> Backend:
    from robustcot.models.hf import HFBackend

    return HFBackend(target, config.hf, name=f"hf:{target}")


def _tiny(target: str, config: Any) -> Backend:
    from robustcot.models.hf import HFBackend
    from robustcot.models.tiny import ensure_tiny

    return HFBackend(ensure_tiny(), config.hf, name="tiny")


def local_directory(target: str) -> Path | None:
    """``target`` as a local model directory, None when it is not one (a hub id): the locator of
    schemes that load a path or a hub id."""
    return Path(target) if Path(target).is_dir() else None


def _tiny_dir(target: str) -> Path:
    from robustcot.models.tiny import ensure_tiny

    return ensure_tiny()


register_backend("hf", _hf, local_directory)
register_backend("tiny", _tiny, _tiny_dir)
register_alias("tiny", "tiny")

# Backends that register themselves on import (last: they import register_backend from here).
from robustcot.models import openai_api, vllm_backend  # noqa: E402, F401
from robustcot.organism import model as organism_model  # noqa: E402, F401
