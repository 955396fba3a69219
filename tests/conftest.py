"""Shared fixtures: the framework library and a small model trained once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def library():
    from pipeline.framework import load_library

    return load_library()


@pytest.fixture(scope="session")
def corpus():
    from pipeline.corpus import load_labelled

    return load_labelled()


@pytest.fixture(scope="session")
def small_model(tmp_path_factory, corpus):
    """A model trained on every third committed passage (fast), saved and loaded back."""
    from pipeline.model import load_model, save_model, train_model

    subset = [p for i, p in enumerate(corpus) if i % 3 == 0]
    model = train_model(subset, name="test-tagger", version="0.1", seed=0)
    out = tmp_path_factory.mktemp("models") / "test-tagger-0.1"
    save_model(model, out)
    return load_model(out)
