"""robustcot: robustness and chain-of-thought consistency of vision-language models."""

__version__ = "0.1.0"
