"""A CPU-scale model organism: a small Qwen2.5-VL trained on the synthetic benchmark.

It is trained from scratch (SFT on templated traces, then optionally GRPO) so that the study's
phenomena, injected reasoning and captions that lead the model astray and how RL moves them, can be
reproduced in minutes on a laptop. ``--model organism`` evaluates the stored checkpoint.
"""
