"""Backends that turn conversations into completions, plus the built-in tiny model."""
