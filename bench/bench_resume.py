"""(c) Re-running a finished run against the first run, same command, same process.

A finished run must not load the model or regenerate anything; the target is < 5% of the first
run's wall time. The model load is included in both timings, as a user would experience it.
Usage: python bench/bench_resume.py [--limit 24] [--max-new-tokens 64]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from robustcot.config import EvalConfig
from robustcot.evaluate import run_eval
from robustcot.models.hf import HFConfig
from robustcot.models.tiny import ensure_tiny


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--limit", type=int, default=24)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    torch.set_num_threads(1)
    ensure_tiny()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(limit=args.limit, variants=["all"], out=Path(tmp) / "run",
                         hf=HFConfig(max_new_tokens=args.max_new_tokens))
        start = time.perf_counter()
        first = run_eval(cfg, show_progress=False)
        t_first = time.perf_counter() - start
        start = time.perf_counter()
        again = run_eval(cfg, show_progress=False)
        t_again = time.perf_counter() - start
    assert again.generated == 0 and len(again.records) == len(first.records)
    print(f"first run: {t_first:.2f} s ({first.generated} generations); re-run: {t_again:.3f} s")
    print(f"(c) re-run / first run = {100 * t_again / t_first:.2f}%  (target < 5%)")


if __name__ == "__main__":
    main()
