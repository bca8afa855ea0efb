"""Turn a model spec into a LangChain chat model.

Accepted specs (``resolve_model``):

- a ``BaseChatModel`` instance: returned as is;
- ``None``: ``$RECODE_MODEL`` if set, else ``"openai:gpt-4o-mini"`` when ``OPENAI_API_KEY`` is set,
  else ``"local"``;
- ``"local"`` / ``"local:qwen2.5-coder-1.5b"`` / ``"local:qwen2.5-coder-0.5b"``: the embedded llama.cpp
  server (see ``recode_graph.models.local``), reached through ``ChatOpenAI``; temperature 0, answers stopped
  at ``</execute>`` and capped at 512 tokens by default (``recode_graph.models.localchat``);
- ``"scripted:<fixture>"``: a ``ScriptedChatModel`` replaying ``recode_graph/models/fixtures/<fixture>.json``
  (a test aid, not an agent);
- a name on the operator's allowlist ``RECODE_MODELS`` (``recode_graph.models.allowlist``): the factory the
  operator bound to that name;
- ``"provider:model"`` for a provider ``init_chat_model`` knows (e.g. ``"openai:gpt-4o-mini"``), or a bare model
  name it can place (``"gpt-4o-mini"``), with ``base_url`` for any OpenAI-compatible server.

Nothing else: a spec never names code to import (``"os:abort"`` is an unknown provider, refused before
anything is imported); your own model is a ``BaseChatModel`` passed in Python or an allowlisted name.
Every failure is a one-line ``ModelError`` saying what to fix.
"""

from __future__ import annotations

import os
import re
from typing import Any

from langchain_core.language_models import BaseChatModel

from recode_graph.models import allowlist
from recode_graph.models.errors import ModelError
from recode_graph.models.wrapped import is_chat_model

DEFAULT_REMOTE = "openai:gpt-4o-mini"
LOCAL_ALIAS = "local"
# Provider prefixes of init_chat_model, for a langchain without its registry.
_FALLBACK_PROVIDERS = frozenset({"openai", "anthropic", "azure_openai", "google_genai", "ollama", "groq",
                                 "mistralai", "deepseek", "together", "fireworks", "bedrock", "xai"})


def default_spec() -> str:
    """The spec used when none is given."""
    explicit = os.environ.get("RECODE_MODEL", "").strip()
    if explicit:
        return explicit
    return DEFAULT_REMOTE if os.environ.get("OPENAI_API_KEY") else LOCAL_ALIAS


def resolve_model(spec: str | BaseChatModel | None = None, *, base_url: str | None = None,
                  temperature: float | None = None) -> BaseChatModel:
    """A chat model for ``spec`` (see the module docstring). ``temperature`` applies to string specs."""
    if is_chat_model(spec):
        return spec  # type: ignore[return-value]
    if spec is None:
        spec = default_spec()
    if not isinstance(spec, str):
        raise ModelError(f"model must be a chat model or a spec string, not {type(spec).__name__}")
    spec = spec.strip()
    if not spec:
        raise ModelError("empty model spec; use e.g. 'local', 'openai:gpt-4o-mini' or 'scripted:<fixture>'")
    if not spec.isprintable():
        raise ModelError(f"model spec {spec!r} holds control characters")
    prefix, sep, rest = spec.partition(":")
    if prefix == LOCAL_ALIAS:
        return _local(rest, temperature)
    if prefix == "scripted" and sep:
        return _scripted(rest)
    named = allowlist.allowed()
    if spec in named:
        return allowlist.load(spec, named[spec])
    if sep and not _is_provider(prefix):
        raise ModelError(f"unknown model spec {spec!r}: {prefix!r} is not a model provider; {_CHOICES}")
    return _init_chat_model(spec, base_url, temperature)


_CHOICES = ("use 'provider:model' (e.g. 'openai:gpt-4o-mini'), 'local', 'scripted:<fixture>' or a name from "
            f"{allowlist.ENV} (the operator's allowlist; a module path is never imported)")
_FIXTURE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")


def _local(name: str, temperature: float | None) -> BaseChatModel:
    from recode_graph.models.local import local_server
    from recode_graph.models.localchat import answer_cap, local_chat_model

    answer_cap()  # a mistyped RECODE_LOCAL_MAX_TOKENS is an error before the weights load
    server = local_server(name)
    return local_chat_model(server.url + "/v1", server.spec.name, temperature=temperature,
                            callbacks=[server.stats])


def _scripted(name: str) -> BaseChatModel:
    from recode_graph.models.scripted import load_fixture

    if not name:
        raise ModelError("'scripted:' needs a fixture name, e.g. 'scripted:<fixture>'")
    if not _FIXTURE.match(name) or ".." in name:
        raise ModelError(f"unknown scripted fixture {name!r} (a fixture name is letters, digits, _ - .)")
    try:
        return load_fixture(name)
    except ValueError as exc:
        raise ModelError(str(exc)) from None


def _is_provider(prefix: str) -> bool:
    try:
        from langchain.chat_models import base
    except ImportError:
        return prefix in _FALLBACK_PROVIDERS
    providers = getattr(base, "_BUILTIN_PROVIDERS", None) or _FALLBACK_PROVIDERS
    return prefix in providers


def _init_chat_model(spec: str, base_url: str | None, temperature: float | None) -> BaseChatModel:
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {}
    if base_url:
        kwargs["base_url"] = base_url
    if temperature is not None:
        kwargs["temperature"] = temperature
    try:
        model = init_chat_model(spec, **kwargs)
    except ImportError as exc:
        raise ModelError(f"model {spec!r} needs its provider package: {exc}") from None
    except ValueError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"unknown model spec {spec!r} ({first}); {_CHOICES}") from None
    except Exception as exc:  # provider SDKs raise their own errors, e.g. a missing API key
        raise ModelError(f"cannot create model {spec!r}: {exc}") from None
    if not is_chat_model(model):
        raise ModelError(f"model spec {spec!r} did not give a chat model")
    return model
