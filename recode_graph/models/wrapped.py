"""Chat models as people pass them: plain, or wrapped in the Runnable helpers of langchain-core
(``.bind(...)``, ``.with_config(...)``, ``.with_retry(...)``, ``.with_fallbacks([...])``) and configurable models
(``init_chat_model(..., configurable_fields=...)``). The engine only calls ``bind``, ``with_config`` and
``invoke``/``ainvoke`` on a model, which every one of these keeps."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableWithFallbacks
from langchain_core.runnables.base import RunnableBindingBase

MAX_WRAPPING = 20  # nested wrappers followed before giving up


def inner_chat_model(value: Any) -> BaseChatModel | None:
    """The chat model inside ``value`` (itself when it is one), or None when ``value`` is not a chat model,
    wrapped or configurable."""
    for _ in range(MAX_WRAPPING):
        if isinstance(value, BaseChatModel):
            return value
        if isinstance(value, RunnableBindingBase):  # bind, with_config, with_retry, with_listeners, ...
            value = value.bound
        elif isinstance(value, RunnableWithFallbacks):
            value = value.runnable
        elif is_configurable_model(value):
            return _configurable_default(value)
        else:
            return None
    return None


def is_chat_model(value: Any) -> bool:
    """A chat model, a Runnable-wrapped chat model or a configurable chat model."""
    return isinstance(value, Runnable) and (inner_chat_model(value) is not None or is_configurable_model(value))


def is_configurable_model(value: Any) -> bool:
    from recode_graph.compat import load

    return isinstance(value, load("ConfigurableModel"))


def _configurable_default(value: Any) -> BaseChatModel | None:
    """The model a configurable model builds when the run configures nothing (None when it needs a config)."""
    try:
        built = value._model()
    except Exception:  # noqa: BLE001 - e.g. no default model: chosen per run through the config
        return None
    return built if isinstance(built, BaseChatModel) else None


def model_name(value: Any) -> str:
    """The provider's model name, for the answer's ``response_metadata`` ('' when unknown)."""
    model = inner_chat_model(value)
    for attr in ("model_name", "model", "model_id"):
        name = getattr(model, attr, None)
        if isinstance(name, str) and name:
            return name
    return type(model).__name__ if model is not None else ""
