"""A slow scripted model for the server tests (``model: "slow_hello"``: the servers' RECODE_MODELS allowlist binds
that name to ``slow_model:slow_hello``, with tests/ on PYTHONPATH; tests/conftest.py TEST_MODELS):
the ``hello`` fixture answering after RECODE_TEST_LATENCY seconds (default 1), so runs are still in flight when a
test cancels them or kills their process."""

from __future__ import annotations

import os

from recode_graph.models.scripted import ScriptedChatModel, load_fixture


def slow_hello() -> ScriptedChatModel:
    model = load_fixture("hello")
    model.latency = float(os.environ.get("RECODE_TEST_LATENCY", "1.0"))
    return model


def slow_alfworld() -> ScriptedChatModel:
    """The ``alfworld_generic`` fixture answering after RECODE_TEST_LATENCY seconds (``recode bench`` progress)."""
    model = load_fixture("alfworld_generic")
    model.latency = float(os.environ.get("RECODE_TEST_LATENCY", "1.0"))
    return model
