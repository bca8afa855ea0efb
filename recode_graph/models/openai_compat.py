"""Any OpenAI-compatible server as the agent's model: vLLM, Ollama, llama.cpp's server, ``recode model serve``.

``openai_compatible(base_url, name)`` is ``ChatOpenAI`` on that server (temperature 0 unless given). The API key
is ``$RECODE_BASE_URL_API_KEY`` or a placeholder: ``OPENAI_API_KEY`` is never sent to a server other than
OpenAI's. ``recode run/bench --base-url URL --model NAME`` and the run context's ``base_url`` use it; a served
graph accepts only the URLs its operator lists in ``RECODE_BASE_URLS`` (``allowed_base_urls``), so a client
cannot make the server call an address of its choosing.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from langchain_core.language_models import BaseChatModel

from recode_graph.models.errors import ModelError

API_KEY_ENV = "RECODE_BASE_URL_API_KEY"
ALLOWED_ENV = "RECODE_BASE_URLS"


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash, or a one-line ``ModelError``."""
    url = str(base_url).strip().rstrip("/")
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ModelError(f"base_url must be an http(s) URL of an OpenAI-compatible server (e.g. "
                         f"http://127.0.0.1:8080/v1), got {base_url!r}")
    return url


def openai_compatible(base_url: str, name: str, *, temperature: float | None = None) -> BaseChatModel:
    """A chat model on the OpenAI-compatible server at ``base_url`` serving model ``name``."""
    from langchain_openai import ChatOpenAI

    url = check_base_url(base_url)
    name = (name or "").strip().removeprefix("openai:")
    if not name:
        raise ModelError("a base_url needs the model's name on that server (--model NAME; e.g. "
                         "qwen2.5-coder-1.5b for `recode model serve`)")
    return ChatOpenAI(base_url=url, model=name, api_key=os.environ.get(API_KEY_ENV) or "none",  # type: ignore[arg-type]
                      temperature=0.0 if temperature is None else temperature, stream_usage=True)


def allowed_base_urls() -> tuple[str, ...]:
    """The URLs a served graph's runs may name in their context (``$RECODE_BASE_URLS``, comma-separated)."""
    return tuple(check_base_url(u) for u in os.environ.get(ALLOWED_ENV, "").split(",") if u.strip())
