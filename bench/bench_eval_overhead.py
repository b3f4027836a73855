"""Harness overhead, measured side by side in one process on the same model and prompts.

(a) ``run_eval`` (perturb → render → generate with letter readout → parse → judge → store) against
    a bare loop of ``model.generate`` over the same rendered prompts, images and batch size.
(b) ``run_eval`` with the letter readout on against off.

Each configuration runs ``--repeats`` times in interleaved order; the median wall time is used.
Usage: python bench/bench_eval_overhead.py [--limit 24] [--max-new-tokens 64] [--batch-size 8] [--model-path DIR]

``--model-path`` benchmarks another checkpoint (e.g. an organism SFT checkpoint, which writes
``<answer>X`` so the letter is read during generation); the default is the random ``tiny`` model,
the worst case for (b): it never writes an answer tag, so every row needs the forced pass.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
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
    args = ap.parse_args()
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

    times: dict[str, list[float]] = {"bare": [], "harness": [], "harness_no_letters": []}
    for _ in range(args.repeats):
        start = time.perf_counter()
        bare_loop(backend_on, prompts, images, args.batch_size, args.max_new_tokens)
        times["bare"].append(time.perf_counter() - start)
        for name, backend, hf in (("harness", backend_on, hf_on), ("harness_no_letters", backend_off, hf_off)):
            with tempfile.TemporaryDirectory() as tmp:
                cfg = base_cfg.model_copy(update={"out": Path(tmp) / "run", "hf": hf})
                start = time.perf_counter()
                run_eval(cfg, backend=backend, show_progress=False)
                times[name].append(time.perf_counter() - start)

    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(prompts)
    print(f"model {path}: {n} generations, batch size {args.batch_size}, max_new_tokens {args.max_new_tokens}, 1 thread")
    sources = {}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = base_cfg.model_copy(update={"out": Path(tmp) / "run", "hf": hf_on})
        sources = run_eval(cfg, backend=backend_on, show_progress=False).records["uncertainty_source"].value_counts()
    print(f"  letter readout sources: {sources.to_dict()}")
    for k, v in med.items():
        print(f"  {k:>20}: {v:7.2f} s (median of {args.repeats})")
    print(f"(a) harness / bare generate loop      = {med['harness'] / med['bare']:.3f}x  (target <= 1.10)")
    print(f"(b) with / without letter uncertainty = {med['harness'] / med['harness_no_letters']:.3f}x  (target <= 1.05)")


if __name__ == "__main__":
    main()
