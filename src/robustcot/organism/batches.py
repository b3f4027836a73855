"""The SFT batches, built one step ahead in a worker process.

Rendering a batch's scenes and running the processor is ~10% of a training step on one thread and
~15% on two; built in a :class:`~torch.utils.data.DataLoader` worker, it overlaps the step instead.
A single worker keeps the order, so the batches, and with them the trained weights, are exactly
those of building each batch in line.
"""

from __future__ import annotations

import multiprocessing
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


def prefetched(config: SFTConfig, processor: Any) -> DataLoader:
    """Every step's batch, two steps ahead, from one worker process.

    Inside a daemonic process (a pool worker), which may not start processes, batches are built in
    line instead: the same batches, without the overlap.
    """
    if multiprocessing.current_process().daemon:
        return DataLoader(SFTBatches(config, processor), batch_size=None)
    return DataLoader(SFTBatches(config, processor), batch_size=None, num_workers=1, prefetch_factor=2)
