"""Shared fixtures: the tiny model is built once per session into a temporary cache; its tokenizer."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_path(tmp_path_factory):
    from robustcot.models.tiny import ensure_tiny

    return ensure_tiny(tmp_path_factory.mktemp("tiny-cache"))


@pytest.fixture(scope="session")
def tiny_backend(tiny_path):
    from robustcot.models.hf import HFBackend, HFConfig

    return HFBackend(tiny_path, HFConfig(max_new_tokens=24), name="tiny")


@pytest.fixture(scope="module")
def tok():
    from robustcot.models.tiny import build_tokenizer

    return build_tokenizer()


@pytest.fixture(scope="module")
def vocab(tok):
    from robustcot.models.letters import LetterVocabulary

    return LetterVocabulary(tok)
