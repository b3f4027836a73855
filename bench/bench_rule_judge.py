"""Throughput of ``parse_response`` + ``judge_rule`` on one core over the real model outputs.

The rule judge is meant to score every rollout during RL training, so it has to keep up with
generation: the target is at least 20,000 responses per second on one core.

The 82 real responses are repeated to about 100,000. Each round is timed with the process's CPU
time, which excludes time the process spent waiting for a core on a busy machine; the best round
is reported (the usual convention for micro-benchmarks: noise only ever slows a round down), with
the median and the wall-clock rate next to it. Option matchers are built once per option list and
cached, as they are in a real evaluation where every sample is scored under several variants; a
cold pass that clears that cache before every response is reported separately as a floor.

Usage: ``python bench/bench_rule_judge.py [--items PATH] [--n 100000] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from robustcot.scoring.parse import clear_option_cache, parse_response
from robustcot.scoring.rule_judge import judge_rule

DEFAULT_ITEMS = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "real" / "model_outputs" / "items.jsonl"
TARGET_PER_S = 20_000


def load(path: Path) -> list[tuple[str, list[str]]]:
    """(response, options) pairs from the labelled real-output file."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(row["response"], list(row["options"].values())) for row in rows]


def score_all(work: list[tuple[str, list[str]]], *, cold: bool = False) -> tuple[float, float]:
    """Parse and judge every response; (CPU seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    for response, options in work:
        if cold:
            clear_option_cache()
        judge_rule(parse_response(response, options), options)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=Path, default=DEFAULT_ITEMS)
    parser.add_argument("--n", type=int, default=100_000, help="responses per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    pairs = load(args.items)
    work = (pairs * (args.n // len(pairs) + 1))[: args.n]
    score_all(work[: len(pairs)])  # warm the option-matcher cache and the regex caches
    rounds = [score_all(work) for _ in range(args.rounds)]
    rates = [len(work) / cpu for cpu, _ in rounds]
    wall_rates = [len(work) / wall for _, wall in rounds]
    cold_n = min(len(work), 10 * len(pairs))
    cold_cpu, _ = score_all(work[:cold_n], cold=True)

    best = max(rates)
    print(f"{len(pairs)} distinct real responses, {len(work)} per round, {args.rounds} rounds, one core")
    print(f"best    {best:>10,.0f} responses/s  (CPU time)")
    print(f"median  {statistics.median(rates):>10,.0f} responses/s  (CPU time)")
    print(f"wall    {max(wall_rates):>10,.0f} responses/s  (best round, wall clock)")
    print(f"cold    {cold_n / cold_cpu:>10,.0f} responses/s  (option matcher rebuilt for every response)")
    print(f"target  {TARGET_PER_S:>10,} responses/s: {'met' if best >= TARGET_PER_S else 'NOT met'}")


if __name__ == "__main__":
    main()
