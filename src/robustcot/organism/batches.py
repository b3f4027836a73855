"""The SFT batches, optionally built one step ahead in a worker process.

Rendering a batch's scenes and running the processor is ~10% of a one-thread training step; built in
a :class:`~torch.utils.data.DataLoader` worker it overlaps the step (1.11× faster on 2 cores), but
when the training threads already take every core the worker competes with them (0.89× at two
threads on 2 cores; docs/performance.md). A single worker keeps the order, so the batches, and with
them the trained weights, are exactly those of building each batch in line.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from torch.utils.data import DataLoader, IterableDataset

from robustcot.organism.traces import collate, trace_stream

if TYPE_CHECKING:
    from robustcot.organism.sft import SFTConfig


def sft_batches(config: SFTConfig, processor: Any) -> Iterator[dict[str, Any]]:
    """The collated batch of every training step, in order; a pure function of ``config``.

    The first ``text_warmup_steps`` batches leave the images out; the next ``focus_steps`` draw only
    questions of ``focus_families`` (from the same trace stream, so no scene is seen twice).
    """
    stream = trace_stream(processor, config.mix, seed=config.seed)
    focus_end = config.text_warmup_steps + config.focus_steps if config.focus_families else 0
    focused = (t for t in stream if t.sample.metadata["category"] in config.focus_families)
    for step in range(config.steps):
        with_images = step >= config.text_warmup_steps
        source = focused if with_images and step < focus_end else stream
        yield collate(processor, [next(source) for _ in range(config.batch_size)], images=with_images)


class SFTBatches(IterableDataset):
    """:func:`sft_batches` as a dataset a loader worker iterates (picklable, for spawned workers)."""

    def __init__(self, config: SFTConfig, processor: Any) -> None:
        self.config = config
        self.processor = processor

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return sft_batches(self.config, self.processor)


def prefetched(config: SFTConfig, processor: Any, worker: bool | None = None) -> DataLoader:
    """Every step's batch, from one worker process two steps ahead or built in line (same batches).

    ``worker`` None: a worker when the training threads leave a core free. Never inside a daemonic
    process (a pool worker), which may not start processes.
    """
    if worker is None:
        worker = (os.cpu_count() or 1) > config.threads
    dataset = SFTBatches(config, processor)
    if not worker or multiprocessing.current_process().daemon:
        return DataLoader(dataset, batch_size=None)
    return DataLoader(dataset, batch_size=None, num_workers=1, prefetch_factor=2)
