"""``response_format``: the shape ``final_answer`` must give, as in ``create_agent``'s structured output.

Accepted: a pydantic model class, a dataclass, a TypedDict class, a JSON schema (a dict), or LangChain's
``ToolStrategy`` / ``ProviderStrategy`` around one of those (their schema is used; the model writes code either
way). The prompt shows the JSON schema; ``final_answer(value)`` validates the value (a dict, or JSON text of one)
and a mismatch fails the statement with the validation error, so the model repairs it.

The state (checkpoints, streams, the server) holds the validated value as plain JSON data; ``typed`` turns it
into what ``create_agent`` gives in ``structured_response``: an instance of a pydantic model or dataclass, a dict
for a TypedDict or a JSON schema. ``recode_graph.compiled`` applies it to the output of ``invoke``.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import is_typeddict

MAX_ERROR = 600  # characters of a validation error shown to the model


class AnswerShapeError(ValueError):
    """The value given to final_answer does not match the response format (the statement fails)."""


@dataclass(frozen=True)
class ResponseFormat:
    name: str
    json_schema: dict[str, Any]
    kind: str  # "pydantic", "dataclass", "typeddict" or "jsonschema"
    schema: Any

    def prompt_note(self) -> str:
        text = json.dumps(self.json_schema, ensure_ascii=False, separators=(", ", ": "))
        return (f"The answer has a required shape ({self.name}): call final_answer(value) with a dict (not a "
                f"string) that matches this JSON schema:\n{text}")

    def validate(self, value: Any) -> dict[str, Any] | list[Any] | Any:
        """The value as plain JSON data, or ``AnswerShapeError`` saying what is wrong."""
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise AnswerShapeError(f"final_answer needs a dict matching {self.name}, got text that is not "
                                       "JSON") from None
        try:
            if self.kind == "jsonschema":
                import jsonschema

                jsonschema.validate(value, self.json_schema)
                return json.loads(json.dumps(value))
            adapter = TypeAdapter(self.schema)
            return adapter.dump_python(adapter.validate_python(value), mode="json")
        except ValidationError as exc:
            raise AnswerShapeError(_short(f"final_answer does not match {self.name}: {exc}")) from None
        except Exception as exc:  # noqa: BLE001 - jsonschema's ValidationError and friends
            message = getattr(exc, "message", None) or str(exc)
            raise AnswerShapeError(_short(f"final_answer does not match {self.name}: {message}")) from None


    def typed(self, value: Any) -> Any:
        """The stored (plain JSON) value as the schema's Python type, as ``create_agent`` returns it: a pydantic
        model or dataclass instance; a TypedDict or JSON schema stays a dict. A value that no longer validates
        (a thread written under another schema) is returned as stored."""
        if value is None or self.kind not in ("pydantic", "dataclass"):
            return value
        try:
            return TypeAdapter(self.schema).validate_python(value)
        except ValidationError:
            return value


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR] + "…"


def parse_response_format(spec: Any) -> ResponseFormat | None:
    """A ``ResponseFormat`` for ``spec``; ``TypeError`` for anything that is not one of the accepted forms."""
    if spec is None:
        return None
    inner = getattr(spec, "schema", None)
    if type(spec).__name__ in ("ToolStrategy", "ProviderStrategy", "AutoStrategy") and inner is not None:
        spec = inner
    if isinstance(spec, type) and issubclass(spec, BaseModel):
        return ResponseFormat(spec.__name__, spec.model_json_schema(), "pydantic", spec)
    if isinstance(spec, type) and dataclasses.is_dataclass(spec):
        return ResponseFormat(spec.__name__, TypeAdapter(spec).json_schema(), "dataclass", spec)
    if isinstance(spec, type) and is_typeddict(spec):
        return ResponseFormat(spec.__name__, TypeAdapter(spec).json_schema(), "typeddict", spec)
    if isinstance(spec, dict):
        import jsonschema

        try:
            jsonschema.validators.validator_for(spec).check_schema(spec)
        except jsonschema.SchemaError as exc:
            raise TypeError(f"response_format is not a valid JSON schema: {exc.message}") from None
        return ResponseFormat(str(spec.get("title") or "the schema"), spec, "jsonschema", spec)
    raise TypeError("response_format must be a pydantic model class, a dataclass, a TypedDict class, a JSON schema "
                    f"dict, or ToolStrategy/ProviderStrategy of one; got {type(spec).__name__}")
