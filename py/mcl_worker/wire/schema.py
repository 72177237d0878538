"""Checks decoded bodies against the JSON Schemas of protocol.json.

A small strict validator for the subset of JSON Schema the protocol uses (listed in KEYWORDS; a
schema using anything else is refused when loaded). It reports the first offending field the way
ts/wire/schemas.ts does: `seconds: expected a number >= 0, got -1`, with details.path "seconds".
Fields are visited in schema order, then unexpected fields in body order, as zod does.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any

import torch

from .describe import MISSING, describe
from .errors import WireError
from .protocol import load_protocol

KEYWORDS = frozenset(
    {
        "type", "properties", "required", "additionalProperties", "minimum", "maximum",
        "enum", "items", "minItems", "maxItems", "$ref", "description",
    }
)
TENSOR_REF = "#/$defs/tensor"
_EXPECTED = {
    "object": "a map",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


class _Invalid(Exception):
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text


def body_schema(kind: str, type_: str) -> dict[str, Any]:
    """The schema a body of this kind and job type must follow; UNKNOWN_JOB / INVALID_BODY when none."""
    protocol = load_protocol()
    if kind not in protocol["kinds"]:
        raise ValueError(f"unknown message kind {kind!r}; kinds: {', '.join(protocol['kinds'])}")
    if kind in protocol["bodies"]:
        return _checked(kind, "")
    if type_ not in protocol["jobs"]:
        raise WireError("UNKNOWN_JOB", f"no job of type {json.dumps(type_)}", details={"type": type_, "known": list(protocol["jobs"])})
    if protocol["jobs"][type_][kind] is None:
        raise WireError("INVALID_BODY", f"job {json.dumps(type_)} sends no progress", details={"path": ""})
    return _checked(kind, type_)


@lru_cache(maxsize=None)
def _checked(kind: str, type_: str) -> dict[str, Any]:
    protocol = load_protocol()
    schema: dict[str, Any] = protocol["bodies"][kind] if type_ == "" else protocol["jobs"][type_][kind]
    check_schema(schema, f"{type_ or kind} {kind}")
    return schema


def check_schema(schema: Any, where: str) -> None:
    """Refuses a schema that uses a keyword this validator does not implement."""
    if not isinstance(schema, dict):
        raise ValueError(f"{where}: a schema is a JSON object, got {schema!r}")
    unknown = set(schema) - KEYWORDS
    if unknown:
        raise ValueError(f"{where}: JSON Schema keywords {sorted(unknown)} are not supported by mcl_worker.wire.schema")
    if "$ref" in schema and schema["$ref"] != TENSOR_REF:
        raise ValueError(f"{where}: only {TENSOR_REF} may be referenced, got {schema['$ref']}")
    for name, sub in schema.get("properties", {}).items():
        check_schema(sub, f"{where}.{name}")
    if "items" in schema:
        check_schema(schema["items"], f"{where}[]")
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        check_schema(additional, f"{where}.*")


def validate_body(kind: str, type_: str, body: dict[str, Any]) -> None:
    """Raises WireError INVALID_BODY naming the first offending field (details.path)."""
    schema = body_schema(kind, type_)
    try:
        validate(body, schema)
    except _Invalid as invalid:
        raise WireError("INVALID_BODY", f"{invalid.path or 'body'}: {invalid.text}", details={"path": invalid.path}) from None


def validate(value: Any, schema: dict[str, Any], path: str = "") -> None:
    """Raises _Invalid at the first violation of `schema` by `value`."""
    if schema.get("$ref") == TENSOR_REF:
        if not isinstance(value, torch.Tensor):
            raise _Invalid(path, f"expected a tensor, got {describe(value)}")
        return
    if "enum" in schema:
        if not any(_same(value, option) for option in schema["enum"]):
            options = ", ".join(json.dumps(option, ensure_ascii=False) for option in schema["enum"])
            raise _Invalid(path, f"expected one of {options}, got {describe(value)}")
        return
    kind = schema.get("type")
    if kind is not None and not _has_type(value, kind):
        raise _Invalid(path, f"expected {_EXPECTED[kind]}, got {describe(value)}")
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            raise _Invalid(path, f"expected a number >= {schema['minimum']}, got {describe(value)}")
        if "maximum" in schema and value > schema["maximum"]:
            raise _Invalid(path, f"expected a number <= {schema['maximum']}, got {describe(value)}")
    elif kind == "array":
        if "items" in schema:
            for i, item in enumerate(value):
                validate(item, schema["items"], f"{path}[{i}]")
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise _Invalid(path, f"expected at least {schema['minItems']} items, got {len(value)}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise _Invalid(path, f"expected at most {schema['maxItems']} items, got {len(value)}")
    elif kind == "object":
        _validate_object(value, schema, path)


def _validate_object(value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    for name, sub in properties.items():
        field_path = f"{path}.{name}" if path else name
        if name in value:
            validate(value[name], sub, field_path)
        elif name in required:
            raise _Invalid(field_path, f"expected {_expected(sub)}, got {describe(MISSING)}")
    additional = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            continue
        field_path = f"{path}.{name}" if path else name
        if additional is False:
            raise _Invalid(field_path, "unexpected field")
        if isinstance(additional, dict):
            validate(item, additional, field_path)


def _has_type(value: Any, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, (list, tuple))
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    raise ValueError(f"JSON Schema type {kind!r} is not supported")


def _same(value: Any, option: Any) -> bool:
    """JSON equality: True is not 1."""
    return type(value) is type(option) and value == option


def _expected(schema: dict[str, Any]) -> str:
    if schema.get("$ref") == TENSOR_REF:
        return "a tensor"
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(option, ensure_ascii=False) for option in schema["enum"])
    return _EXPECTED.get(schema.get("type", ""), "a value")

