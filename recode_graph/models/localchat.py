"""The chat model in front of the embedded llama.cpp server, with the settings the published results used.

A local answer ends at ``</execute>`` (the end of ReCode's and CodeAct's answer format; the parsers accept an
answer without it) and is capped at ``DEFAULT_MAX_TOKENS`` tokens, so a rambling 1.5B model cannot fill its
8,192-token context in one call. ``RECODE_LOCAL_MAX_TOKENS`` sets another cap; a stop or ``max_tokens`` passed
to ``invoke`` (ReAct's ``\\nObservation:``) or ``model_copy(update={"max_tokens": N})`` (``recode bench
--max-tokens N``) overrides these defaults for that call or copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel

ANSWER_STOP = ("</execute>",)
DEFAULT_MAX_TOKENS = 512  # every published local-model result used --max-tokens 512 (benchmarks/README.md)
MAX_TOKENS_ENV = "RECODE_LOCAL_MAX_TOKENS"


def answer_cap() -> int:
    """Tokens per local answer: ``RECODE_LOCAL_MAX_TOKENS`` or 512 (one-line ``ModelError`` when invalid)."""
    from recode_graph.models.local import env_int

    return env_int(MAX_TOKENS_ENV, DEFAULT_MAX_TOKENS, 1, 32768)


def local_chat_model(base_url: str, name: str, *, temperature: float | None = None,
                     callbacks: Sequence[Any] = ()) -> BaseChatModel:
    """``ChatOpenAI`` for the llama.cpp server at ``base_url`` (``.../v1``): temperature 0, the answer stop
    sequence and the answer cap by default."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        base_url=base_url,
        api_key="local",  # type: ignore[arg-type]
        model=name,
        temperature=0.0 if temperature is None else temperature,
        max_tokens=answer_cap(),  # type: ignore[call-arg]
        stop=list(ANSWER_STOP),  # type: ignore[call-arg]
        stream_usage=True,
        callbacks=list(callbacks),
    )
