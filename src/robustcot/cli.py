"""The ``robustcot`` command. Thin: parse options, call library functions, print results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from robustcot.errors import RobustCoTError

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
console = Console()

DEMO_OUT = Path("runs/demo")


def _run(overrides: dict, config_file: Path | None, quiet: bool) -> None:
    from robustcot.analysis.summary import summary_table
    from robustcot.config import load_eval_config
    from robustcot.evaluate import run_eval

    try:
        config = load_eval_config(config_file, overrides)
        result = run_eval(config, show_progress=not quiet)
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(summary_table(result.metrics, title=f"{config.model} on {config.benchmark}"))
    what = "nothing left to generate" if result.generated == 0 else f"{result.generated} generations"
    console.print(f"{what}; run directory: {result.run_dir} (records.parquet, summary.md, run.json)")


def _run_ray(overrides: dict, config_file: Path | None, n_shards: int, address: str | None) -> None:
    from robustcot.config import load_eval_config
    from robustcot.distributed.ray_executor import run_sharded_with_ray

    try:
        config = load_eval_config(config_file, overrides)
        shard_dirs = run_sharded_with_ray(config, n_shards, address=address)
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{len(shard_dirs)} shards merged into {config.out} (records.parquet, summary.md, run.json)")


def _key_values(items: list[str] | None) -> dict | None:
    """``["subset=2D", "circular=true"]`` → ``{"subset": "2D", "circular": True}`` (values parsed as YAML)."""
    if not items:
        return None
    import yaml

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


@app.command("eval")
def eval_command(
    model: Annotated[str | None, typer.Option(help="tiny | organism | hf:<hub id or path> | vllm:<id> | openai:<model>")] = None,
    benchmark: Annotated[str | None, typer.Option(help="benchmark name (see `robustcot benchmarks`)")] = None,
    limit: Annotated[int | None, typer.Option(help="number of samples")] = None,
    variants: Annotated[str | None, typer.Option(help="'all' or a comma-separated list")] = None,
    abstain: Annotated[bool | None, typer.Option("--abstain/--no-abstain", help="also run with an \"I'm not sure\" option")] = None,
    seed: Annotated[int | None, typer.Option(help="picks synthetic scenes and wrong options")] = None,
    profile: Annotated[str | None, typer.Option(help="prompt profile, or auto (from the model id)")] = None,
    prompt_style: Annotated[
        str | None, typer.Option(help="profile | reference (exactly as lmms-eval or VLMEvalKit prompts)")
    ] = None,
    reference_harness: Annotated[str | None, typer.Option(help="lmms_eval | vlmevalkit (with --prompt-style reference)")] = None,
    out: Annotated[Path | None, typer.Option(help="run directory (re-run to resume)")] = None,
    batch_size: Annotated[int | None, typer.Option(help="requests per backend call")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="generation budget")] = None,
    device: Annotated[str | None, typer.Option(help="auto | cpu | cuda[:N]")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto | float32 | bfloat16 | float16")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="local benchmark files")] = None,
    benchmark_option: Annotated[
        list[str] | None,
        typer.Option("--benchmark-option", "-B", help="loader option KEY=VALUE (repeatable), e.g. -B circular=true"),
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="openai: OpenAI-compatible endpoint")] = None,
    prefill_mode: Annotated[str | None, typer.Option(help="openai: auto | native | trailing_assistant | emulated")] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="openai: most requests in flight")] = None,
    max_total_tokens: Annotated[int | None, typer.Option(help="openai: stop sending after this many tokens")] = None,
    max_cost_usd: Annotated[float | None, typer.Option(help="openai: stop sending after this estimated cost")] = None,
    judge: Annotated[list[str] | None, typer.Option("--judge", help="LLM judge spec, repeatable")] = None,
    shard: Annotated[str | None, typer.Option(help="evaluate only shard i/n of the samples (0-based), e.g. 0/4")] = None,
    executor: Annotated[str, typer.Option(help="local | ray (runs --shards shard tasks on Ray, then merges)")] = "local",
    shards: Annotated[int, typer.Option(help="number of shards for --executor ray")] = 2,
    ray_address: Annotated[str | None, typer.Option(help="Ray cluster address (default: a local Ray instance)")] = None,
    config: Annotated[Path | None, typer.Option("--config", help="YAML file with any of these options")] = None,
    quiet: Annotated[bool, typer.Option(help="no progress bar")] = False,
) -> None:
    """Evaluate a model under the perturbation suite and write a run directory."""
    if executor not in ("local", "ray"):
        raise typer.BadParameter(f"--executor must be local or ray, not {executor!r}")
    overrides = {
        "model": model,
        "benchmark": benchmark,
        "limit": limit,
        "variants": variants,
        "abstain": abstain,
        "seed": seed,
        "profile": profile,
        "prompt_style": prompt_style,
        "reference_harness": reference_harness,
        "out": out,
        "batch_size": batch_size,
        "data_dir": data_dir,
        "benchmark_options": _key_values(benchmark_option),
        "judges": judge or None,
        "shard": shard,
        "hf.max_new_tokens": max_new_tokens,
        "vllm.max_new_tokens": max_new_tokens,
        "openai.max_tokens": max_new_tokens,
        "openai.base_url": base_url,
        "openai.prefill_mode": prefill_mode,
        "openai.max_concurrency": max_concurrency,
        "openai.max_total_tokens": max_total_tokens,
        "openai.max_cost_usd": max_cost_usd,
        "hf.device": device,
        "hf.dtype": dtype,
    }
    if executor == "ray":
        _run_ray(overrides, config, shards, ray_address)
    else:
        _run(overrides, config, quiet)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="run directory")] = DEMO_OUT,
    limit: Annotated[int, typer.Option(help="number of synthetic samples")] = 50,
) -> None:
    """The packaged model organism on the synthetic benchmark with every variant; no download.

    The demo's directory is its own: rows made by an earlier organism checkpoint are discarded.
    """
    import shutil

    from robustcot.evaluate import stale_weights

    if (reason := stale_weights(out, "organism")) is not None:
        console.print(f"{out}: {reason}; starting it afresh")
        shutil.rmtree(out)
    overrides = {"model": "organism", "benchmark": "synthetic", "limit": limit, "variants": "all", "out": out}
    _run({**overrides, "hf.max_new_tokens": 48}, None, False)


@app.command()
def judge(
    run: Annotated[Path, typer.Argument(help="run directory written by `robustcot eval`")],
    judges: Annotated[list[str], typer.Option("--judge", help="judge spec (tiny | hf:… | vllm:… | openai:…); repeat for a panel")],
    cascade: Annotated[bool, typer.Option("--cascade/--no-cascade", help="rule judge settles clear rows")] = True,
    audit_fraction: Annotated[float, typer.Option(help="share of clear rows also sent to LLM judges")] = 0.1,
    seed: Annotated[int, typer.Option(help="audit sample and bootstrap seed")] = 0,
    batch_size: Annotated[int, typer.Option(help="judge prompts per backend call")] = 64,
) -> None:
    """Judge think-vs-answer consistency of an existing run with LLM judges; nothing is regenerated."""
    from robustcot.judges import judge_run

    try:
        result = judge_run(run, judges, cascade=cascade, audit_fraction=audit_fraction, seed=seed, batch_size=batch_size)
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    stats, overall = result.stats, result.stats["agreement"][0]
    for j in stats["judges"]:
        console.print(
            f"{j['spec']} → {j['column']}: sent {j['requests_sent']}, cached {j['cache_hits']}, unparsed {j['unparsed']}"
        )
    console.print(f"routes {stats['cascade']['routes']}; panel {stats['panel']['labels']}")
    console.print(
        f"Fleiss κ {overall['kappa']} [{overall['ci_low']}, {overall['ci_high']}], strict {overall['strict']} "
        f"{overall['note'] or ''}"
    )
    console.print(f"wrote {result.run_dir}/records.parquet and judges.json")


@app.command()
def merge(
    runs: Annotated[list[Path], typer.Argument(help="shard run directories (`robustcot eval --shard i/n`)")],
    out: Annotated[Path, typer.Option(help="merged run directory")],
    allow_incomplete: Annotated[bool, typer.Option(help="merge even if shards or records are missing")] = False,
) -> None:
    """Join the shard runs of one evaluation into one run directory, checking that nothing is missing."""
    from robustcot.distributed.merge import merge_runs

    try:
        result = merge_runs(runs, out, allow_incomplete=allow_incomplete)
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for line in result.problems():
        console.print(f"[yellow]incomplete:[/yellow] {line}")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(
        f"{result.n_records} records ({result.n_errors} error rows) from {result.n_shards} shards → {result.out}"
    )


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="run directories")],
    out: Annotated[Path, typer.Option(help="report directory")] = Path("reports/latest"),
    format: Annotated[list[str] | None, typer.Option("--format", help="md, html, json (repeatable; default all)")] = None,
    n_boot: Annotated[int, typer.Option(help="bootstrap resamples")] = 1000,
    seed: Annotated[int, typer.Option(help="bootstrap and browser sampling seed")] = 0,
    browser_rows: Annotated[int, typer.Option(help="most rows embedded in the sample browser")] = 20000,
    thumbnails: Annotated[
        bool, typer.Option("--thumbnails/--no-thumbnails", help="reload benchmarks for image thumbnails")
    ] = True,
) -> None:
    """Analyse run directories together: report.md, report.html, report.json, tables/, figures/."""
    from robustcot.analysis.report import FORMATS, ReportOptions, build_report
    from robustcot.analysis.thumbnails import registry_image_loader

    try:
        result = build_report(
            runs,
            out,
            formats=format or FORMATS,
            images=registry_image_loader(runs) if thumbnails else None,
            options=ReportOptions(n_boot=n_boot, seed=seed, browser_max_rows=browser_rows),
        )
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    for line in result.deviations:
        console.print(f"[magenta]deviation:[/magenta] {line}")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"{result.n_records:,} records → {result.out} ({len(result.files)} files, {result.seconds:.1f} s)")


@app.command()
def schema() -> None:
    """Print the documented columns of records.parquet."""
    from robustcot.records import schema_markdown

    console.print(schema_markdown(), markup=False)


@app.command()
def benchmarks() -> None:
    """List the registered benchmarks: source, split, size, options, licence."""
    from rich.table import Table

    from robustcot.data.adapters import list_benchmark_info

    table = Table("name", "task", "source", "split", "size", "options", "licence")
    for row in list_benchmark_info():
        task = row["task"] if row["role"] == "eval" else f"{row['task']} (train)"
        table.add_row(row["name"], task, row["source"], row["split"], row["size"], row["options"], row["licence"])
    console.print(table)


@app.command()
def profiles() -> None:
    """List the prompt profiles."""
    from rich.table import Table

    from robustcot.prompting.profile import list_profiles

    table = Table("name", "answer style", "description")
    for p in list_profiles():
        table.add_row(p.name, p.answer_style, p.description)
    console.print(table)


train_app = typer.Typer(no_args_is_help=True, help="GRPO training: data export, verl/TRL launch.")
app.add_typer(train_app, name="train")


def _name_values(items: list[str] | None, what: str) -> dict[str, str]:
    """``["sat=/data/SAT"]`` → ``{"sat": "/data/SAT"}``."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{what}: expected NAME=VALUE, got {item!r}")
        out[key.strip()] = value
    return out


@train_app.command("prepare")
def train_prepare(
    mix: Annotated[str, typer.Option(help="NAME:COUNT,... e.g. sat:32000,pixmo_count:15000[,geometry3k:2101] or synthetic:200")],
    out: Annotated[Path, typer.Option(help="output directory (verl/, trl/, manifest.json)")],
    seed: Annotated[int, typer.Option(help="sample selection, shuffle and injection seed")] = 0,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="inject captions/thinks, 10% each")] = False,
    val_size: Annotated[int, typer.Option(help="prompts held out into verl/val.parquet")] = 0,
    data_dir: Annotated[list[str] | None, typer.Option("--data-dir", help="NAME=PATH per component (repeatable)")] = None,
    benchmark_option: Annotated[
        list[str] | None, typer.Option("--benchmark-option", "-B", help="NAME.KEY=VALUE loader option (repeatable)")
    ] = None,
) -> None:
    """Export a benchmark mix as verl parquet and a TRL dataset (deterministic given the seed)."""
    from robustcot.train.export import prepare

    options: dict[str, dict] = {}
    for key, value in _name_values(benchmark_option, "--benchmark-option").items():
        name, _, option = key.partition(".")
        if not option:
            raise typer.BadParameter(f"--benchmark-option: expected NAME.KEY=VALUE, got {key!r}")
        options.setdefault(name, {})[option] = value
    try:
        result = prepare(
            mix,
            out,
            seed=seed,
            augment=augment,
            val_size=val_size,
            data_dirs=_name_values(data_dir, "--data-dir"),
            loader_options=options,
        )
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    m = result.manifest
    console.print(f"{m['n_train']} train / {m['n_val']} val prompts; injections {m['injections']}")
    console.print(f"wrote {result.verl_train}, {result.trl_dir}, {result.out / 'manifest.json'}")


@train_app.command("verl")
def train_verl(
    data: Annotated[Path, typer.Option(help="directory written by `robustcot train prepare`")],
    out: Annotated[Path, typer.Option(help="run directory (checkpoints/, rollouts/, command.sh)")],
    seed: Annotated[int, typer.Option(help="every verl seed")] = 0,
    preset: Annotated[str, typer.Option(help="study | smoke")] = "study",
    faithfulness: Annotated[str, typer.Option(help="none | rule | llm")] = "none",
    model: Annotated[str | None, typer.Option(help="policy (default: the preset's)")] = None,
    gpus: Annotated[int | None, typer.Option(help="GPUs per node (default: the preset's)")] = None,
    judge_url: Annotated[str | None, typer.Option(help="llm: OpenAI-compatible judge endpoint")] = None,
    judge_model: Annotated[str | None, typer.Option(help="llm: judge model name at that endpoint")] = None,
    judge_model_path: Annotated[str | None, typer.Option(help="llm: judge served by verl itself")] = None,
    override: Annotated[list[str] | None, typer.Option("--override", "-o", help="verl KEY=VALUE (repeatable)")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the command, do not run it")] = False,
) -> None:
    """Launch GRPO with verl (Qwen2.5-VL-7B, G=8, checkpoints every 250 steps) or print the command."""
    from robustcot.train.judge_http import JudgeEndpoint
    from robustcot.train.verl_launch import build_verl_command, launch_verl

    if bool(judge_url) != bool(judge_model):
        raise typer.BadParameter("--judge-url and --judge-model go together")
    judge = JudgeEndpoint(judge_url, judge_model) if judge_url and judge_model else None
    try:
        launch = build_verl_command(
            preset,
            data=data,
            out=out,
            seed=seed,
            model=model,
            faithfulness=faithfulness,
            judge=judge,
            judge_model_path=judge_model_path,
            n_gpus_per_node=gpus,
            overrides=override or (),
        )
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    raise typer.Exit(launch_verl(launch, dry_run=dry_run))


@train_app.command("trl")
def train_trl_command(
    data: Annotated[Path, typer.Option(help="the trl/ directory written by `robustcot train prepare`")],
    model: Annotated[str, typer.Option(help="tiny | local path | hub id")],
    out: Annotated[Path, typer.Option(help="output directory (checkpoint-N/)")],
    faithfulness: Annotated[str, typer.Option(help="none | rule | llm")] = "none",
    judge_url: Annotated[str | None, typer.Option(help="llm: OpenAI-compatible judge endpoint")] = None,
    judge_model: Annotated[str | None, typer.Option(help="llm: judge model name")] = None,
    num_generations: Annotated[int, typer.Option(help="rollouts per prompt (G)")] = 8,
    batch_size: Annotated[int, typer.Option(help="per-device batch (a multiple of G)")] = 8,
    max_steps: Annotated[int, typer.Option(help="-1: one epoch")] = -1,
    max_completion_length: Annotated[int, typer.Option(help="generation budget")] = 1024,
    save_steps: Annotated[int, typer.Option(help="checkpoint interval")] = 250,
    seed: Annotated[int, typer.Option(help="trainer seed")] = 0,
    cpu: Annotated[bool, typer.Option("--cpu", help="train on CPU (tiny model)")] = False,
) -> None:
    """GRPO on one machine with TRL: same rewards and augmentation as the verl path."""
    from robustcot.train.judge_http import JudgeEndpoint
    from robustcot.train.rewards import RewardConfig
    from robustcot.train.trl_grpo import train_trl

    try:
        judge = JudgeEndpoint(judge_url, judge_model) if judge_url and judge_model else None
        result = train_trl(
            data,
            model,
            out,
            reward=RewardConfig(faithfulness, judge=judge),
            num_generations=num_generations,
            per_device_train_batch_size=batch_size,
            max_steps=max_steps,
            max_completion_length=max_completion_length,
            save_steps=save_steps,
            seed=seed,
            use_cpu=cpu,
        )
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"checkpoints: {', '.join(str(c) for c in result.checkpoints) or 'none'}")


@app.command("sweep")
def sweep_command(
    checkpoints: Annotated[list[str], typer.Argument(help="checkpoint root(s), or NAME=DIR per run/seed")],
    benchmark: Annotated[str, typer.Option(help="benchmark to evaluate every checkpoint on")] = "synthetic",
    out: Annotated[Path, typer.Option(help="sweep directory (evals/, curves.parquet, curves.png)")] = Path("runs/sweep"),
    variants: Annotated[str, typer.Option(help="comma-separated variants")] = "base,wrong_think,wrong_caption,correct_think",
    limit: Annotated[int | None, typer.Option(help="samples per checkpoint")] = 200,
    seed: Annotated[int, typer.Option(help="sample and wrong-option seed")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="local benchmark files")] = None,
    base_model: Annotated[str | None, typer.Option(help="model spec evaluated as step 0")] = None,
    max_new_tokens: Annotated[int | None, typer.Option(help="generation budget")] = None,
    rollouts: Annotated[
        list[str] | None, typer.Option("--rollouts", help="NAME=DIR verl rollout dump per run (repeatable)")
    ] = None,
) -> None:
    """Evaluate every checkpoint (resumable) and draw accuracy/entropy/P(correct)/consistency curves."""
    from robustcot.config import EvalConfig
    from robustcot.train.sweep import sweep

    runs = {}
    for item in checkpoints:
        name, sep, path = item.partition("=")
        runs[name if sep else Path(item).name] = Path(path if sep else item)
    try:
        config = EvalConfig(limit=limit, seed=seed, data_dir=data_dir)
        if max_new_tokens is not None:
            config = config.model_copy(update={"hf": config.hf.model_copy(update={"max_new_tokens": max_new_tokens})})
        result = sweep(
            runs,
            benchmark,
            variants,
            out=out,
            config=config,
            base_model=base_model,
            rollout_dirs=_name_values(rollouts, "--rollouts") or None,
            show_progress=True,
        )
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{result.evaluated} checkpoint(s) evaluated; curves → {out / 'curves.parquet'}, {result.figure}")


organism_app = typer.Typer(no_args_is_help=True, help="The CPU-scale model organism (docs/organism.md).")
app.add_typer(organism_app, name="organism")


@organism_app.command("train")
def organism_train(
    seed: Annotated[int, typer.Option(help="seed of weights, scenes, injections, sampling")] = 0,
    out: Annotated[Path, typer.Option(help="output directory; re-run to resume")] = Path("runs/organism"),
    sft_steps: Annotated[int | None, typer.Option(help="SFT steps (default: the recipe's)")] = None,
    sft_threads: Annotated[int | None, typer.Option(help="SFT and calibration torch threads (default: the recipe's 2; 1 per run when runs share the cores)")] = None,
    calibration_steps: Annotated[int | None, typer.Option(help="letter-calibration steps between SFT and GRPO (0: none; default: the recipe's)")] = None,
    grpo_steps: Annotated[int | None, typer.Option(help="GRPO steps per recipe (default: the recipe's)")] = None,
    grpo_lr: Annotated[float | None, typer.Option(help="GRPO learning rate (default: the recipe's)")] = None,
    recipes: Annotated[str, typer.Option(help="GRPO recipes: augmented,plain")] = "augmented,plain",
    limit: Annotated[int, typer.Option(help="held-out scenes per evaluation")] = 200,
) -> None:
    """Train the organism (SFT, letter calibration, then GRPO per recipe); evaluate every checkpoint
    on held-out scenes."""
    from robustcot.organism.calibrate import CalibrationConfig
    from robustcot.organism.grpo import GRPOConfig
    from robustcot.organism.pipeline import train_organism
    from robustcot.organism.sft import SFTConfig

    sft = SFTConfig(**{k: v for k, v in {"steps": sft_steps, "threads": sft_threads}.items() if v is not None})
    calibration = (
        None
        if calibration_steps == 0
        else CalibrationConfig(
            **{k: v for k, v in {"steps": calibration_steps, "threads": sft_threads}.items() if v is not None}
        )
    )
    try:
        result = train_organism(
            seed,
            out,
            sft=sft,
            grpo=GRPOConfig(
                **{k: v for k, v in {"steps": grpo_steps, "lr": grpo_lr}.items() if v is not None}
            ),
            calibration=calibration,
            recipes=tuple(r.strip() for r in recipes.split(",") if r.strip()),
            eval_limit=limit,
        )
    except RobustCoTError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print_json(data=result.summary)
    console.print(f"SFT checkpoint: {result.sft_checkpoint}; curves: {out / 'curves.parquet'}")


if __name__ == "__main__":
    app()
