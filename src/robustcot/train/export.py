"""Training data export: a benchmark mix → verl parquet files and an HF dataset for TRL.

``prepare("sat:32000,pixmo_count:15000", out)`` loads each component through the benchmark
registry, builds one training prompt per sample (with the augmentation of
:mod:`robustcot.train.augment`), shuffles them with the seed and writes:

* ``out/verl/train.parquet`` (and ``val.parquet`` when ``val_size > 0``) in verl's RL schema:
  ``data_source``; ``prompt`` (chat list whose user turn starts with one ``<image>`` per image, the
  placeholder verl's ``RLHFDataset`` splits on); ``images``; ``ability``;
  ``reward_model.{style,ground_truth}``; ``extra_info`` (question, options, gold, answer type,
  injection, ids); and ``agent_name``, which routes every prompt through robustcot's prefill agent
  loop (:mod:`robustcot.train.verl_agent`) so injected thinks are continued, not ignored;
* ``out/trl`` (``datasets.save_to_disk``): ``prompt`` (the user turn, plus an assistant turn holding
  the prefill when a think is injected), ``images`` and the columns the reward functions read;
* ``out/manifest.json``: what was requested and obtained, injection counts, seeds and versions.

The output depends only on the mix, the seed, the augmentation settings and the data: no
timestamps, images stored as their original bytes (PNG-encoded when given as pixels).
"""

from __future__ import annotations

import io
import json
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from robustcot import __version__
from robustcot.data.registry import get_benchmark, load_benchmark
from robustcot.data.sample import ImageInput
from robustcot.errors import ConfigError
from robustcot.perturb.templates import TEMPLATE_VERSION
from robustcot.prompting.profile import DEFAULT, PromptProfile
from robustcot.train.augment import AugmentConfig, TrainPrompt, build_prompt

#: verl agent-loop name of :class:`robustcot.train.verl_agent.PrefillAgentLoop`.
AGENT_NAME = "robustcot_prefill"
IMAGE_PLACEHOLDER = "<image>"
#: verl ``ability`` per benchmark (free-form in verl; it groups metrics and selects nothing).
ABILITIES = {"sat": "spatial", "pixmo_count": "counting", "geometry3k": "math", "synthetic": "synthetic"}
#: Benchmarks whose option answers may be written as values and are compared as mathematics.
MATH_BENCHMARKS = frozenset({"geometry3k"})
CHUNK_ROWS = 256


@dataclass(frozen=True)
class MixComponent:
    """``count`` samples of registered benchmark ``name``."""

    name: str
    count: int


def parse_mix(spec: str | Iterable[MixComponent]) -> list[MixComponent]:
    """``"sat:32000,pixmo_count:15000"`` → components; a name may appear once."""
    if not isinstance(spec, str):
        return list(spec)
    out: list[MixComponent] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        name, sep, count = part.partition(":")
        if not sep or not name.strip() or not count.strip().isdigit() or int(count) < 1:
            raise ConfigError(
                f"mix component {part!r} must look like NAME:COUNT with COUNT ≥ 1 (e.g. sat:32000)"
            )
        out.append(MixComponent(name.strip(), int(count)))
    if not out:
        raise ConfigError("the mix is empty; give components like sat:32000,pixmo_count:15000")
    dupes = sorted(n for n, c in Counter(m.name for m in out).items() if c > 1)
    if dupes:
        raise ConfigError(f"mix names a benchmark more than once: {dupes}")
    return out


def _messages(role_texts: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"role": role, "content": text} for role, text in role_texts]


def _features():
    """Arrow/HF schemas of both exports (built lazily: ``datasets`` is a training-only dependency)."""
    from datasets import Features, Image, List, Value

    messages = List({"role": Value("string"), "content": Value("string")})
    injection = {k: Value("string") for k in ("kind", "caption", "prefill", "asserted")}
    verl = Features(
        {
            "data_source": Value("string"),
            "prompt": messages,
            "images": List(Image()),
            "ability": Value("string"),
            "reward_model": {"style": Value("string"), "ground_truth": Value("string")},
            "extra_info": {
                "index": Value("int64"),
                "split": Value("string"),
                "sample_id": Value("string"),
                "question": Value("string"),
                "options": List(Value("string")),
                "gold": Value("string"),
                "answer_type": Value("string"),
                "math": Value("bool"),
                "injection": injection,
            },
            "agent_name": Value("string"),
        }
    )
    trl = Features(
        {
            "prompt": messages,
            "images": List(Image()),
            "prefill": Value("string"),
            "sample_id": Value("string"),
            "data_source": Value("string"),
            "ability": Value("string"),
            "question": Value("string"),
            "ground_truth": Value("string"),
            "answer_type": Value("string"),
            "options": List(Value("string")),
            "math": Value("bool"),
            "injection": Value("string"),
        }
    )
    return verl, trl


def image_bytes(image: ImageInput) -> bytes:
    """The image's stored bytes: as given, read from its file, or PNG-encoded pixels."""
    if image.data is not None:
        return image.data
    if image.path is not None:
        return Path(image.path).read_bytes()
    buf = io.BytesIO()
    image.pil.save(buf, format="PNG")
    return buf.getvalue()


def gold_text(prompt: TrainPrompt) -> str:
    """The gold answer as a reader wants it: the option text, or the value."""
    index = prompt.target.gold_index
    return prompt.target.options[index] if index is not None else prompt.target.gold


def verl_row(prompt: TrainPrompt, index: int, split: str, profile: PromptProfile = DEFAULT) -> dict[str, Any]:
    """One row of verl's RL parquet schema (images still as bytes dicts)."""
    images = [{"bytes": image_bytes(i), "path": None} for i in prompt.images]
    system = [("system", profile.system)] if profile.system else []
    user = IMAGE_PLACEHOLDER * len(images) + prompt.user_text
    target = prompt.target
    return {
        "data_source": prompt.benchmark,
        "prompt": _messages([*system, ("user", user)]),
        "images": images,
        "ability": ABILITIES.get(prompt.benchmark, "vqa"),
        "reward_model": {"style": "rule", "ground_truth": target.gold},
        "extra_info": {
            "index": index,
            "split": split,
            "sample_id": prompt.sample_id,
            "question": prompt.question,
            "options": list(target.options),
            "gold": gold_text(prompt),
            "answer_type": target.answer_type,
            "math": target.math,
            "injection": asdict(prompt.injection),
        },
        "agent_name": AGENT_NAME,
    }


def trl_row(prompt: TrainPrompt, profile: PromptProfile = DEFAULT) -> dict[str, Any]:
    """One row of the TRL dataset; images go before the user text (TRL inserts their placeholders)."""
    system = [("system", profile.system)] if profile.system else []
    prefill = [("assistant", prompt.prefill)] if prompt.prefill else []
    target = prompt.target
    return {
        "prompt": _messages([*system, ("user", prompt.user_text), *prefill]),
        "images": [{"bytes": image_bytes(i), "path": None} for i in prompt.images],
        "prefill": prompt.prefill,
        "sample_id": prompt.sample_id,
        "data_source": prompt.benchmark,
        "ability": ABILITIES.get(prompt.benchmark, "vqa"),
        "question": prompt.question,
        "ground_truth": target.gold,
        "answer_type": target.answer_type,
        "options": list(target.options),
        "math": target.math,
        "injection": prompt.injection.kind or "",
    }


@dataclass
class ComponentReport:
    name: str
    requested: int
    loaded: int
    rejects: int


@dataclass
class PrepareResult:
    """Paths written by :func:`prepare` and what went into them."""

    out: Path
    verl_train: Path
    verl_val: Path | None
    trl_dir: Path
    manifest: dict[str, Any] = field(default_factory=dict)


def load_component(
    component: MixComponent, *, seed: int, options: Mapping[str, Any] | None = None
) -> list[Any]:
    """The component's samples; a name the registry does not know is reported with the known names."""
    try:
        get_benchmark(component.name)
    except ConfigError as exc:
        raise ConfigError(
            f"mix component {component.name!r} is not a registered benchmark ({exc}); "
            "register its adapter (robustcot.data.registry.register_benchmark) before preparing training data"
        ) from None
    samples = load_benchmark(component.name, limit=component.count, seed=seed, **dict(options or {}))
    if not samples:
        raise ConfigError(
            f"mix component {component.name!r} loaded no samples (check its data_dir / image cache)"
        )
    return samples


def _write_parquet(path: Path, rows: Iterator[dict[str, Any]], features) -> None:
    """Stream encoded rows into a parquet file carrying the HF feature metadata (images decode to PIL)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = features.arrow_schema
    with pq.ParquetWriter(path, schema) as writer:
        chunk: list[dict[str, Any]] = []
        for row in rows:
            chunk.append(features.encode_example(row))
            if len(chunk) == CHUNK_ROWS:
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                chunk = []
        if chunk:
            writer.write_table(pa.Table.from_pylist(chunk, schema=schema))


def prepare(
    mix: str | Iterable[MixComponent],
    out: str | Path,
    *,
    seed: int = 0,
    augment: bool | AugmentConfig = True,
    val_size: int = 0,
    data_dirs: Mapping[str, str | Path] | None = None,
    loader_options: Mapping[str, Mapping[str, Any]] | None = None,
    profile: PromptProfile = DEFAULT,
) -> PrepareResult:
    """Load the mix, build augmented prompts, shuffle with ``seed`` and write both exports.

    ``seed`` drives sample selection, the shuffle and (unless an :class:`AugmentConfig` with its
    own seed is given) the injections. ``val_size`` prompts are held out into ``val.parquet``.
    ``data_dirs``/``loader_options`` are per component (``{"sat": "/data/SAT"}``).
    """
    components = parse_mix(mix)
    out = Path(out)
    aug = AugmentConfig(seed=seed) if augment is True else (augment or None)
    prompts: list[TrainPrompt] = []
    reports = []
    for comp in components:
        options = dict((loader_options or {}).get(comp.name, {}))
        if data_dirs and comp.name in data_dirs:
            options["data_dir"] = data_dirs[comp.name]
        samples = load_component(comp, seed=seed, options=options)
        math = comp.name in MATH_BENCHMARKS
        prompts.extend(build_prompt(s, augment=aug, math=math, profile=profile) for s in samples)
        reports.append(
            ComponentReport(comp.name, comp.count, len(samples), len(getattr(samples, "rejects", [])))
        )
    if not 0 <= val_size < len(prompts):
        raise ConfigError(f"val_size must be in [0, {len(prompts)}), got {val_size}")
    order = np.random.default_rng(seed).permutation(len(prompts))
    train_ids, val_ids = order[: len(order) - val_size], order[len(order) - val_size :]

    verl_features, trl_features = _features()
    (out / "verl").mkdir(parents=True, exist_ok=True)
    verl_train = out / "verl" / "train.parquet"
    _write_parquet(
        verl_train,
        (verl_row(prompts[i], k, "train", profile) for k, i in enumerate(train_ids)),
        verl_features,
    )
    verl_val = None
    if val_size:
        verl_val = out / "verl" / "val.parquet"
        _write_parquet(
            verl_val, (verl_row(prompts[i], k, "val", profile) for k, i in enumerate(val_ids)), verl_features
        )
    trl_dir = out / "trl"
    _write_trl(trl_dir, (trl_row(prompts[i], profile) for i in train_ids), trl_features)

    manifest = {
        "mix": [asdict(c) for c in components],
        "components": [asdict(r) for r in reports],
        "seed": seed,
        "augment": None if aug is None else {"seed": aug.seed, "probabilities": dict(aug.probabilities)},
        "injections": dict(sorted(Counter(p.injection.kind or "none" for p in prompts).items())),
        "n_train": len(train_ids),
        "n_val": len(val_ids),
        "profile": profile.name,
        "template_version": TEMPLATE_VERSION,
        "robustcot": __version__,
        "files": {
            "verl_train": "verl/train.parquet",
            "verl_val": verl_val and "verl/val.parquet",
            "trl": "trl",
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return PrepareResult(out, verl_train, verl_val, trl_dir, manifest)


def exported_profile(data_dir: str | Path) -> str | None:
    """The prompt profile :func:`prepare` rendered ``data_dir``'s prompts with (its manifest's ``profile``).

    Both trainers record it in their checkpoints, so that evaluating one asks the model the way it
    was trained. None when ``data_dir`` has no manifest, or one written before profiles were recorded.
    """
    manifest = Path(data_dir) / "manifest.json"
    return json.loads(manifest.read_text()).get("profile") if manifest.is_file() else None


def _write_trl(target: Path, rows: Iterator[dict[str, Any]], features) -> None:
    """Rows → parquet in a scratch dir → ``Dataset.save_to_disk`` (memory-mapped, never all in RAM)."""
    from datasets import Dataset

    with tempfile.TemporaryDirectory(prefix="robustcot-trl-") as scratch:
        parquet = Path(scratch) / "trl.parquet"
        _write_parquet(parquet, rows, features)
        dataset = Dataset.from_parquet(
            str(parquet), features=features, cache_dir=str(Path(scratch) / "cache")
        )
        if target.exists():
            shutil.rmtree(target)
        dataset.save_to_disk(str(target))
