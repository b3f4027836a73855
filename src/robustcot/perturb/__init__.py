"""Prompt perturbations: the study's variant table, applied to a sample."""

from robustcot.perturb.templates import TEMPLATE_VERSION
from robustcot.perturb.variants import (
    SPECS,
    VARIANTS,
    PerturbedPrompt,
    VariantSpec,
    draw_wrong_index,
    parse_variants,
    perturb,
    statements,
)

__all__ = [
    "SPECS",
    "TEMPLATE_VERSION",
    "VARIANTS",
    "PerturbedPrompt",
    "VariantSpec",
    "draw_wrong_index",
    "parse_variants",
    "perturb",
    "statements",
]
