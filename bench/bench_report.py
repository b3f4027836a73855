"""Time every report analysis and the full report over a million simulated records.

Run: ``.venv/bin/python bench/bench_report.py [--records N] [--n-boot B] [--out DIR]``. The records
are simulated (2 models × 2 benchmarks × 8 variants × abstain on/off), written as two run
directories, and the report is built from those directories, so loading is part of the timing;
simulation and writing are timed separately and not counted. Target: under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from robustcot.analysis.report import ReportOptions, build_report
from robustcot.analysis.simulate import simulate_records, write_run

MODELS = ("hf:org/model-a", "hf:org/model-b")
BENCHMARKS = ("bench-x", "bench-y")
ROWS_PER_SAMPLE = len(MODELS) * len(BENCHMARKS) * 8 * 2


def write_runs(root: Path, records) -> list[Path]:
    """One run directory per model."""
    return [write_run(part, root / f"run{i}", {"config": {"model": model, "seed": 0}, "template_version": "1"})
            for i, (model, part) in enumerate(records.groupby("model", sort=False))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--n-boot", type=int, default=ReportOptions.n_boot)
    parser.add_argument("--out", type=Path, default=None, help="report directory (default: a temporary one)")
    args = parser.parse_args()
    n_samples = max(1, round(args.records / ROWS_PER_SAMPLE))
    start = time.perf_counter()
    records = simulate_records(models=MODELS, benchmarks=BENCHMARKS, n_samples=n_samples,
                               llm_judges=("judge-a", "judge-b", "judge-c"))
    simulated = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        runs = write_runs(Path(tmp) / "runs", records)
        written = time.perf_counter() - start
        del records
        out = args.out or Path(tmp) / "report"
        start, cpu = time.perf_counter(), time.process_time()
        result = build_report(runs, out, options=ReportOptions(n_boot=args.n_boot))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        html_mb = result.files["report.html"].stat().st_size / 2**20
    print(f"simulated {result.n_records:,} records in {simulated:.1f} s, wrote them in {written:.1f} s (not counted)")
    print(f"report over {result.n_records:,} records, {args.n_boot} bootstrap resamples: {seconds:.1f} s wall, "
          f"{cpu:.1f} s CPU "
          f"({len(result.files)} files, report.html {html_mb:.1f} MiB, {result.n_browser_rows:,} browser rows)")


if __name__ == "__main__":
    main()
