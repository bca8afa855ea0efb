"""A benchmark run's settings: ``BenchConfig``, its validation and the model label."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from recode_graph.bench.sample import (
    safe_name,
)
from recode_graph.tools.grounding import check_mode, mode_of

AGENTS = ("recode", "react", "codeact")
DEFAULT_HISTORY = 10  # ReAct's window on the command line
REACT_FORMATS = ("text", "tools")  # how ReAct's model acts: ReAct's Action lines, or the provider's tool calls
DEFAULT_REACT_FORMAT = "text"
REACT_LOCAL_MAX_TOKENS = 160  # ReAct's published local-model runs capped its answers at 160 tokens
CHECKPOINTED = frozenset({"recode", "react"})  # agents that are LangGraph graphs: resumable mid-episode
Record = dict[str, Any]


class BenchError(ValueError):
    """A one-line, user-facing problem with the benchmark's arguments."""


@dataclass
class BenchConfig:
    env: str
    split: str
    n: int
    agent: str
    model: str | BaseChatModel | None
    concurrency: int
    out_dir: Path
    seed: int = 0
    server: str | None = None
    max_depth: int = 10
    max_model_calls: int | None = None  # recode: 200; baselines: the task's step limit
    env_options: dict[str, Any] = field(default_factory=dict)
    prices: str | Path | None = None
    price_as: str | None = None  # summary cost at this model's prices (e.g. a local run priced as gpt-4o-mini)
    checkpoint: bool = True  # checkpoint ReCode / ReAct episodes so a cut-short one resumes mid-episode
    progress: bool = True
    plots: bool = True
    model_name: str | None = None  # label in records and price lookup (default: from the model)
    environments: Sequence[Any] | None = None  # ready adapters for the workers (kept open); more are spawned
    max_tokens: int | None = None  # cap per model answer (default: the model's; local: 512, ReAct on local: 160)
    history: int = 0  # ReAct: show the model only its recent steps (a window; 0 = the whole conversation)
    grounding: str = "off"  # action grounding for every agent: off (the paper, the default) | hint | snap
    react_format: str = DEFAULT_REACT_FORMAT  # ReAct: "Action: ..." lines (the paper's) or native tool calls
    repeat_note: bool = False  # ReAct: an action that changed nothing is answered with a note (``react.repeat_note``)

    @property
    def run_dir(self) -> Path:
        return self.out_dir / f"{self.env}-{self.split}"

    @property
    def agent_dir(self) -> str:
        """``<agent>`` without grounding (the paper's setting), else ``<agent>-<grounding>``; ReAct with its whole
        conversation (``history`` 0) adds ``-full`` (the windowed runs keep the plain name), and ReAct with the
        repeat note ``-note``."""
        name = self.agent if self.grounding == "off" else f"{self.agent}-{self.grounding}"
        if self.agent != "react":
            return name
        return name + ("-full" if self.history == 0 else "") + ("-note" if self.repeat_note else "")

    def episode_path(self, task_id: str) -> Path:
        return self.run_dir / "episodes" / self.agent_dir / f"{safe_name(task_id)}.json"


def validate(cfg: BenchConfig) -> None:
    from recode_graph.tools import ADAPTERS

    if cfg.env not in ADAPTERS:
        raise BenchError(f"unknown environment {cfg.env!r}; available: {', '.join(ADAPTERS)}")
    if cfg.agent not in AGENTS:
        raise BenchError(f"unknown agent {cfg.agent!r}; available: {', '.join(AGENTS)}")
    if not isinstance(cfg.history, int) or isinstance(cfg.history, bool) or cfg.history < 0:
        raise BenchError(f"history must be a non-negative integer, got {cfg.history!r}")
    if not isinstance(cfg.repeat_note, bool):
        raise BenchError(f"repeat_note must be True or False, got {cfg.repeat_note!r}")
    if cfg.repeat_note and cfg.agent != "react":
        raise BenchError(f"repeat_note is a ReAct option; agent {cfg.agent!r} does not take it")
    if cfg.react_format not in REACT_FORMATS:
        raise BenchError(f"unknown react_format {cfg.react_format!r}; available: {', '.join(REACT_FORMATS)}")
    for name in ("n", "concurrency", "max_depth"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise BenchError(f"{name} must be a positive integer, got {value!r}")
    try:
        check_mode(cfg.grounding)
    except ValueError as exc:
        raise BenchError(str(exc)) from None
    if cfg.environments and any(mode_of(e) != cfg.grounding for e in cfg.environments):
        raise BenchError(f"environments= must be built with grounding={cfg.grounding!r}")
    if cfg.max_tokens is not None and cfg.max_tokens < 1:
        raise BenchError(f"max_tokens must be a positive integer, got {cfg.max_tokens!r}")
    if cfg.server and cfg.max_tokens:
        raise BenchError("--max-tokens applies to local runs; configure the served model instead")
    if cfg.max_model_calls is not None and cfg.max_model_calls < 1:
        raise BenchError(f"max_model_calls must be a positive integer, got {cfg.max_model_calls!r}")
    if cfg.environments and any(getattr(e, "name", cfg.env) != cfg.env for e in cfg.environments):
        raise BenchError(f"environments= must be {cfg.env!r} adapters")
    if cfg.server:
        if cfg.environments:
            raise BenchError("--server takes no local environments (the server builds them)")
        if importlib.util.find_spec("langgraph_sdk") is None:
            raise BenchError("--server needs langgraph-sdk: pip install langgraph-sdk")
        if cfg.agent != "recode":
            raise BenchError("--server runs the served ReCode graph; use --agent recode (baselines run locally)")
        if cfg.model is not None and not isinstance(cfg.model, str):
            raise BenchError("--server needs the model as a spec string (the server resolves it)")
        if cfg.env_options:
            raise BenchError("--server takes no environment options (the server builds the environment)")


def model_label(model: str | BaseChatModel | None) -> str:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel

    if model is None:
        from recode_graph.models.resolve import default_spec

        return default_spec()
    if isinstance(model, str):
        return model
    if isinstance(model, GenericFakeChatModel):
        return "scripted"
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__


def with_max_tokens(model: BaseChatModel, max_tokens: int) -> BaseChatModel:
    """A copy of ``model`` answering with at most ``max_tokens`` tokens."""
    if "max_tokens" not in type(model).model_fields:
        raise BenchError(f"--max-tokens: {type(model).__name__} has no max_tokens setting")
    return model.model_copy(update={"max_tokens": max_tokens})


def default_max_tokens(cfg: BenchConfig, label: str) -> int | None:
    """The answer cap a run uses: ``cfg.max_tokens`` when given, else the settings of the published local-model
    results (local: the model's own 512 or ``RECODE_LOCAL_MAX_TOKENS``, ReAct on local: 160), else None (the
    model's own)."""
    if cfg.max_tokens is not None or cfg.server or label.split(":", 1)[0] != "local":
        return cfg.max_tokens
    if cfg.agent == "react":
        return REACT_LOCAL_MAX_TOKENS
    from recode_graph.models.localchat import answer_cap

    return answer_cap()
