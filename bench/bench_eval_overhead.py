"""Harness overhead, measured side by side in one process on the same model and prompts.

(a) ``run_eval`` (perturb → render → generate with letter readout → parse → judge → store) against
    a bare loop of ``model.generate`` over the same rendered prompts, images and batch size.
(b) ``run_eval`` with the letter readout on against off.

Each configuration runs ``--repeats`` times, interleaved, and each repeat starts with a different
configuration (on a shared machine whichever runs first was systematically faster or slower).
Each ratio is reported twice: of the median wall times, and as the median of the per-repeat ratios,
which pairs runs made moments apart and so resists load that drifts over the benchmark.
Usage: python bench/bench_eval_overhead.py [--limit 24] [--max-new-tokens 64] [--batch-size 8] [--model-path DIR]
                                           [--repeats 3] [--clock wall|cpu]

``--model-path`` benchmarks another checkpoint (e.g. an organism SFT checkpoint, which writes
``<answer>X`` so the letter is read during generation); the default is the random ``tiny`` model,
the worst case for (b): it never writes an answer tag, so every row needs the forced pass.
``--clock cpu`` times with ``time.process_time`` (CPU seconds of this process) instead of wall
time: on a machine whose cores other jobs keep busy, it shows the work each side does apart from
how long it waited to be scheduled. The targets are about wall time.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import torch

from robustcot.config import EvalConfig
from robustcot.data.registry import load_benchmark
from robustcot.evaluate import _request, plan, run_eval
from robustcot.models.hf import HFBackend, HFConfig
from robustcot.models.tiny import ensure_tiny
from robustcot.prompting.profiles import profile_for_model


def bare_loop(backend: HFBackend, prompts, images, batch_size: int, max_new_tokens: int) -> None:
    proc, model = backend.processor, backend.model
    for lo in range(0, len(prompts), batch_size):
        batch_imgs = [img for group in images[lo : lo + batch_size] for img in group]
        inputs = proc(text=prompts[lo : lo + batch_size], images=batch_imgs, padding=True, return_tensors="pt")
        with torch.inference_mode():
            model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False, temperature=None,
                           top_p=None, top_k=None, pad_token_id=backend.tokenizer.pad_token_id)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--model-path", type=Path, default=None)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    args = ap.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    torch.set_num_threads(1)

    path = args.model_path or ensure_tiny()
    hf_on = HFConfig(max_new_tokens=args.max_new_tokens)
    hf_off = HFConfig(max_new_tokens=args.max_new_tokens, letter_readout=False)
    backend_on, backend_off = HFBackend(path, hf_on, name="tiny"), HFBackend(path, hf_off, name="tiny")

    base_cfg = EvalConfig(limit=args.limit, variants=["all"], batch_size=args.batch_size, hf=hf_on)
    profile = profile_for_model(base_cfg.model, base_cfg.profile)
    items, _ = plan(load_benchmark("synthetic", limit=args.limit, seed=0), base_cfg, profile)
    reqs = [_request(i, profile) for i in items]
    prompts = [backend_on.render(r) for r in reqs]
    images = [r.conversation.images for r in reqs]

    def run_bare() -> None:
        start = clock()
        bare_loop(backend_on, prompts, images, args.batch_size, args.max_new_tokens)
        times["bare"].append(clock() - start)

    def run_harness(name: str, backend: HFBackend, hf: HFConfig) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = base_cfg.model_copy(update={"out": Path(tmp) / "run", "hf": hf})
            start = clock()
            run_eval(cfg, backend=backend, show_progress=False)
            times[name].append(clock() - start)

    times: dict[str, list[float]] = {"bare": [], "harness": [], "harness_no_letters": []}
    runs = [run_bare, partial(run_harness, "harness", backend_on, hf_on),
            partial(run_harness, "harness_no_letters", backend_off, hf_off)]
    for rep in range(args.repeats):
        for run in runs[rep % 3 :] + runs[: rep % 3]:
            run()

    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(prompts)
    print(f"model {path}: {n} generations, batch size {args.batch_size}, max_new_tokens {args.max_new_tokens}, 1 thread, {args.clock} clock")
    sources = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = base_cfg.model_copy(update={"out": Path(tmp) / "run", "hf": hf_on})
        sources = run_eval(cfg, backend=backend_on, show_progress=False).records["uncertainty_source"].value_counts()
    print(f"  letter readout sources: {sources.to_dict()}")
    for k, v in med.items():
        spread = f"{min(times[k]):.2f}-{max(times[k]):.2f}"
        print(f"  {k:>20}: {v:7.2f} s (median of {args.repeats}, range {spread})")
    for label, num, den, target in (
        ("(a) harness / bare generate loop     ", "harness", "bare", 1.10),
        ("(b) with / without letter uncertainty", "harness", "harness_no_letters", 1.05),
    ):
        paired = statistics.median(a / b for a, b in zip(times[num], times[den], strict=True))
        print(f"{label} = {med[num] / med[den]:.3f}x of medians, {paired:.3f}x paired  (target <= {target:.2f})")


if __name__ == "__main__":
    main()
