"""Samples and the benchmarks that produce them."""

from robustcot.data.sample import ImageInput, Sample, option_letter

__all__ = ["ImageInput", "Sample", "option_letter"]
