"""Typed settings shared by the CLI, YAML config files and the Python API."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from robustcot.distributed.shards import parse_shard
from robustcot.errors import ConfigError
from robustcot.models.hf import HFConfig
from robustcot.models.openai_config import OpenAIConfig
from robustcot.models.vllm_backend import VLLMConfig


class EvalConfig(BaseModel):
    """One evaluation run: which model, which data, which perturbations, where results go."""

    model_config = ConfigDict(extra="forbid")

    model: str = "tiny"
    """Model spec: ``tiny``, ``hf:<hub id or path>`` (more schemes as backends are registered)."""
    benchmark: str = "synthetic"
    """Registered benchmark name (``robustcot benchmarks`` lists them)."""
    data_dir: Path | None = None
    """Local copy of the benchmark in its published format; ``None`` uses the adapter's default."""
    limit: int | None = Field(50, ge=1)
    """Evaluate the first ``limit`` samples; ``None`` for all."""
    variants: list[str] = Field(default_factory=lambda: ["all"])
    """Perturbation variants, or ``all``."""
    abstain: bool = False
    """Also run every chosen variant with an extra "I'm not sure" option."""
    seed: int = 0
    """Picks synthetic scenes and each sample's wrong option."""
    profile: str = "auto"
    """Prompt profile name, or ``auto`` to choose it from the model spec (``robustcot profiles``)."""
    prompt_style: Literal["profile", "reference"] = "profile"
    """``reference`` renders each sample exactly as ``reference_harness`` does (numbers comparable with it)."""
    reference_harness: Literal["lmms_eval", "vlmevalkit"] = "lmms_eval"
    """Harness whose prompt ``--prompt-style reference`` reproduces."""
    benchmark_options: dict[str, Any] = Field(default_factory=dict)
    """Extra loader options of the benchmark adapter (e.g. ``{subset: 2D, circular: true}``)."""
    shard: str | None = None
    """``i/n``: evaluate only the samples that hash to shard ``i`` of ``n`` (join shards with ``robustcot merge``)."""
    out: Path = Path("runs/demo")
    """Run directory; re-running with the same directory resumes."""
    batch_size: int = Field(8, ge=1)
    """Requests per backend call."""
    hf: HFConfig = Field(default_factory=HFConfig)
    """transformers backend settings (dtype, device, generation budget, pixels); used by ``tiny`` and ``hf:``."""
    vllm: VLLMConfig = Field(default_factory=VLLMConfig)
    """vLLM engine and sampling settings; used by ``vllm:``."""
    openai: OpenAIConfig = Field(default_factory=OpenAIConfig)
    """``openai:<model>`` settings: endpoint, key, prefill mode, concurrency, retries, budget."""
    judges: list[str] = Field(default_factory=list)
    """LLM judge specs run after generation (the same as ``robustcot judge``)."""
    judge_cascade: bool = True
    """Let the rule judge settle clear rows so LLM judges see only the rest."""
    judge_audit_fraction: float = Field(0.1, ge=0, le=1)
    """Share of rule-settled rows also sent to LLM judges, to measure rule/LLM agreement."""

    @field_validator("variants", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return [s.strip() for s in v.split(",") if s.strip()] if isinstance(v, str) else v

    @field_validator("shard")
    @classmethod
    def _shard(cls, v: str | None) -> str | None:
        return None if v is None else str(parse_shard(v))

    def identity(self, template_version: str) -> dict[str, Any]:
        """Settings that must stay fixed across resumes of one run directory."""
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "benchmark_options": self.benchmark_options,
            "seed": self.seed,
            "profile": self.profile,
            "template_version": template_version,
            "prompt_style": self.prompt_style if self.prompt_style == "profile" else f"reference:{self.reference_harness}",
            "shard": self.shard,
            **self._generation_identity(),
        }

    def _generation_identity(self) -> dict[str, Any]:
        if self.model.startswith("openai:"):
            o = self.openai
            return {
                "max_new_tokens": o.max_tokens,
                "temperature": o.temperature,
                "top_p": o.top_p,
                "sampling_seed": o.seed,
                "base_url": o.base_url,
                "prefill_mode": o.prefill_mode,
                "emulated_template": o.emulated_template,
                "logprobs": o.logprobs,
                "top_logprobs": o.top_logprobs,
                "image_format": o.image_format,
                "jpeg_quality": o.jpeg_quality,
                "extra_body": o.extra_body,
            }
        if self.model.startswith("vllm:"):
            v = self.vllm
            return {
                "max_new_tokens": v.max_new_tokens,
                "temperature": v.temperature,
                "top_p": v.top_p,
                "chat_template_kwargs": v.chat_template_kwargs,
                "mm_processor_kwargs": v.mm_processor_kwargs,
            }
        h = self.hf
        return {
            "max_new_tokens": h.max_new_tokens,
            "do_sample": h.do_sample,
            "temperature": h.temperature if h.do_sample else None,
            "top_p": h.top_p if h.do_sample else None,
            "min_pixels": h.min_pixels,
            "max_pixels": h.max_pixels,
        }


def load_eval_config(path: Path | None, overrides: dict[str, Any]) -> EvalConfig:
    """YAML file values, then explicit overrides (``None`` values mean "not given")."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {path} must hold a mapping, not {type(loaded).__name__}")
        data.update(loaded)
    for key, value in overrides.items():
        if value is None:
            continue
        if "." in key:
            section, field = key.split(".", 1)
            data.setdefault(section, {})[field] = value
        else:
            data[key] = value
    try:
        return EvalConfig.model_validate(data)
    except Exception as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc
