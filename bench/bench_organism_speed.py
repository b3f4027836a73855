"""Where the organism pipeline's time goes, and what each speed setting buys, side by side in one run.

* Two pieces of an SFT step measured both ways: the patch embedding as Qwen2.5-VL's Conv3d and as
  the matrix product SFT uses, and a training scene with and without the PNG round trip.
* SFT step of ``train_sft`` (batch 16, images, every loss, data included), at 1 and 2 torch threads,
  with the batches built in a loader worker and in line (train_sft picks the worker only when the
  threads leave a core free); then at 2 threads in line per batch size (``--batch-sizes``): the
  step is ~linear in the batch, which is why a smaller batch is no shortcut (docs/organism.md).
* GRPO (from the packaged checkpoint, a few steps): one recipe at 1 and at 2 threads, then both
  recipes side by side in worker processes (the pipeline's default on a machine with 2+ cores)
  against one after the other.

Run it on an otherwise idle machine: every number is wall time. docs/performance.md records a run.
Usage: python bench/bench_organism_speed.py [--sft-steps 12] [--grpo-steps 6] [--batch-sizes 8 16]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from robustcot.organism.grpo import GRPOConfig
from robustcot.organism.model import ensure_organism
from robustcot.organism.pipeline import train_recipes
from robustcot.organism.sft import SFTConfig, train_sft


def sft_step_seconds(threads: int, steps: int, prefetch: bool, batch_size: int = 16) -> float:
    """Mean wall time of an image step of :func:`train_sft` itself (data, every loss, the update),
    from the times its ``on_step`` callback is called; the first 3 steps warm up."""
    marks: list[float] = []
    config = SFTConfig(steps=steps + 4, text_warmup_steps=0, threads=threads, batch_size=batch_size)
    with tempfile.TemporaryDirectory() as tmp:
        train_sft(
            config,
            Path(tmp) / "ck",
            on_step=lambda step, loss: marks.append(time.perf_counter()),
            prefetch=prefetch,
        )
    return (marks[-1] - marks[3]) / (len(marks) - 4)


def patch_embedding_seconds(repeats: int = 30) -> tuple[float, float]:
    """Forward and backward of a batch's patch embedding (16 scenes, 1 024 patches) at two threads:
    Qwen2.5-VL's Conv3d, then the same weights as one matrix product (what SFT runs)."""
    import torch
    import torch.nn.functional as F

    from robustcot.organism.recipe import ARCHITECTURE

    torch.set_num_threads(2)
    vision = ARCHITECTURE["vision"]
    kernel = [vision["temporal_patch_size"], vision["patch_size"], vision["patch_size"]]
    conv = torch.nn.Conv3d(3, vision["hidden_size"], kernel_size=kernel, stride=kernel, bias=False)
    patches = torch.randn(16 * 64, 3 * kernel[0] * kernel[1] * kernel[2])

    def convolution() -> None:
        conv(patches.view(-1, 3, *kernel)).sum().backward()

    def matrix_product() -> None:
        F.linear(patches, conv.weight.view(len(conv.weight), -1)).sum().backward()

    times = []
    for run in (convolution, matrix_product):
        run()
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        times.append((time.perf_counter() - start) / repeats)
    return times[0], times[1]


def scene_seconds(n: int = 320) -> tuple[float, float]:
    """Per training scene: rendered, PNG-encoded and decoded (as evaluation stores scenes), then kept
    as rendered (what the SFT stream does; same pixels)."""
    from robustcot.data.synthetic import synthetic_sample

    times = []
    for png in (True, False):
        start = time.perf_counter()
        for i in range(n):
            synthetic_sample(i, seed=7, png=png).load_images()
        times.append((time.perf_counter() - start) / n)
    return times[0], times[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sft-steps", type=int, default=12)
    ap.add_argument("--grpo-steps", type=int, default=6)
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 16])
    args = ap.parse_args()
    conv, matmul = patch_embedding_seconds()
    print(f"patch embedding, forward and backward, seconds: Conv3d {conv:.4f}, matrix product {matmul:.4f} "
          f"({conv / matmul:.1f}x)")  # fmt: skip
    png, raw = scene_seconds()
    print(f"training scene, seconds: with the PNG round trip {png:.5f}, kept as rendered {raw:.5f} "
          f"(x16 per step: {16 * (png - raw):.4f} saved)")  # fmt: skip
    print("SFT step, seconds (batch 16):")
    sft = {}
    for threads in (1, 2):
        for prefetch in (False, True):
            sft[threads, prefetch] = sft_step_seconds(threads, args.sft_steps, prefetch)
            where = "in a loader worker" if prefetch else "in line"
            print(f"  {threads} thread(s), batches built {where}: {sft[threads, prefetch]:.3f}", flush=True)
    for threads in (1, 2):
        print(f"  {threads} thread(s): loader worker over in line {sft[threads, False] / sft[threads, True]:.2f}x")
    print(f"  two threads over one (loader worker): {sft[1, True] / sft[2, True]:.2f}x")
    print("SFT step, seconds, two threads, batches built in line, by batch size:")
    for batch in args.batch_sizes:
        print(f"  batch {batch}: {sft_step_seconds(2, args.sft_steps, False, batch):.3f}", flush=True)

    checkpoint = ensure_organism()
    grpo = GRPOConfig(steps=args.grpo_steps, save_every=args.grpo_steps, prompts=64)
    print(f"GRPO, {args.grpo_steps} steps, seconds:")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for threads in (1, 2):
            start = time.perf_counter()
            train_recipes(
                checkpoint, root / f"t{threads}", ["plain"], grpo.model_copy(update={"threads": threads})
            )
            print(f"  one recipe, {threads} thread(s): {time.perf_counter() - start:.1f}", flush=True)
        start = time.perf_counter()
        for recipe in ("augmented", "plain"):
            train_recipes(checkpoint, root / "serial", [recipe], grpo)
        serial = time.perf_counter() - start
        start = time.perf_counter()
        train_recipes(checkpoint, root / "parallel", ["augmented", "plain"], grpo)
        parallel = time.perf_counter() - start
    print(f"  two recipes one after the other: {serial:.1f}; side by side: {parallel:.1f} "
          f"({serial / parallel:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
