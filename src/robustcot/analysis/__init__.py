"""Analysis of a run's records: per-variant metrics and the summary written next to them."""

from robustcot.analysis.metrics import VariantMetrics, auroc_or_nan, variant_metrics
from robustcot.analysis.summary import summary_markdown, summary_table, write_summary

__all__ = [
    "VariantMetrics",
    "auroc_or_nan",
    "summary_markdown",
    "summary_table",
    "variant_metrics",
    "write_summary",
]
