"""The one error type of model resolution (shared by the resolver and the local model)."""

from __future__ import annotations


class ModelError(ValueError):
    """A model spec that cannot be turned into a chat model; the message says what to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
