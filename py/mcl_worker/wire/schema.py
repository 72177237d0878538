"""Checks decoded bodies against the JSON Schemas of protocol.json.

A small strict validator for the subset of JSON Schema the protocol uses (listed in KEYWORDS; a
schema using anything else is refused when loaded; `$ref` names an entry of protocol.json's
`$defs`, the tensor descriptor standing for a decoded tensor), compiled once per schema into closures so
that checking a body does not walk the schema's dicts. It reports the first offending field the way
ts/wire/schemas.ts does: `seconds: expected a number >= 0, got -1`, with details.path "seconds".
Fields are visited in schema order, then unexpected fields in body order, as zod does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
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
DEFS = "#/$defs/"
TENSOR_REF = DEFS + "tensor"
_EXPECTED = {
    "object": "a map",
    "array": "an array",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


Check = Callable[[Any, str], None]
_compiled: dict[tuple[str, str], Check] = {}


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
    if "$ref" in schema:
        resolve(schema["$ref"], where)
    for name, sub in schema.get("properties", {}).items():
        check_schema(sub, f"{where}.{name}")
    if "items" in schema:
        check_schema(schema["items"], f"{where}[]")
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        check_schema(additional, f"{where}.*")


def resolve(ref: str, where: str = "$ref") -> dict[str, Any]:
    """The schema `ref` names: an entry of protocol.json's $defs."""
    defs: dict[str, Any] = load_protocol()["$defs"]
    name = ref.removeprefix(DEFS)
    if not ref.startswith(DEFS) or name not in defs:
        raise ValueError(f"{where}: $ref {ref!r} names no entry of protocol.json's $defs ({', '.join(defs)})")
    schema: dict[str, Any] = defs[name]
    return schema


def validate_body(kind: str, type_: str, body: dict[str, Any]) -> None:
    """Raises WireError INVALID_BODY naming the first offending field (details.path)."""
    check = _compiled.get((kind, type_))
    if check is None:  # compiled once per (kind, type): a message then costs a few closure calls
        check = _compiled[(kind, type_)] = compile_schema(body_schema(kind, type_))
    try:
        check(body, "")
    except _Invalid as invalid:
        raise WireError("INVALID_BODY", f"{invalid.path or 'body'}: {invalid.text}", details={"path": invalid.path}) from None


def compile_schema(schema: dict[str, Any]) -> Check:
    """A function raising _Invalid at the first violation of `schema`: a tensor reference or an
    enum alone, else the type, then bounds, items in order (then their count), properties in
    schema order, then unexpected fields in body order."""
    if schema.get("$ref") == TENSOR_REF:
        return _check_tensor
    if "$ref" in schema:
        return compile_schema(resolve(schema["$ref"]))
    if "enum" in schema:
        return _compile_enum(schema["enum"])
    kind = schema.get("type")
    has_type = _type_check(kind) if kind is not None else None
    if kind in ("integer", "number"):
        rest = _compile_bounds(schema)
    elif kind == "array":
        rest = _compile_array(schema)
    elif kind == "object":
        rest = _compile_object(schema)
    else:
        rest = None
    if has_type is None:
        return rest if rest is not None else _accept
    expected = f"expected {_EXPECTED[kind]}"  # type: ignore[index]

    def check(value: Any, path: str) -> None:
        if not has_type(value):
            raise _Invalid(path, f"{expected}, got {describe(value)}")
        if rest is not None:
            rest(value, path)

    return check


def _accept(value: Any, path: str) -> None:
    return None


def _check_tensor(value: Any, path: str) -> None:
    if not isinstance(value, torch.Tensor):
        raise _Invalid(path, f"expected a tensor, got {describe(value)}")


def _compile_enum(options: list[Any]) -> Check:
    text = ", ".join(json.dumps(option, ensure_ascii=False) for option in options)

    def check(value: Any, path: str) -> None:
        if not any(_same(value, option) for option in options):
            raise _Invalid(path, f"expected one of {text}, got {describe(value)}")

    return check


def _compile_bounds(schema: dict[str, Any]) -> Check | None:
    if "minimum" not in schema and "maximum" not in schema:
        return None
    low, high = schema.get("minimum"), schema.get("maximum")

    def check(value: Any, path: str) -> None:
        if low is not None and value < low:
            raise _Invalid(path, f"expected a number >= {low}, got {describe(value)}")
        if high is not None and value > high:
            raise _Invalid(path, f"expected a number <= {high}, got {describe(value)}")

    return check


def _compile_array(schema: dict[str, Any]) -> Check:
    item_check = compile_schema(schema["items"]) if "items" in schema else None
    low, high = schema.get("minItems"), schema.get("maxItems")

    def check(value: Any, path: str) -> None:
        if item_check is not None:
            for i, item in enumerate(value):
                item_check(item, f"{path}[{i}]")
        if low is not None and len(value) < low:
            raise _Invalid(path, f"expected at least {low} items, got {len(value)}")
        if high is not None and len(value) > high:
            raise _Invalid(path, f"expected at most {high} items, got {len(value)}")

    return check


def _compile_object(schema: dict[str, Any]) -> Check:
    required = set(schema.get("required", ()))
    # (name, check, whether required, the text when missing), in schema order
    fields = [
        (name, compile_schema(sub), name in required, f"expected {_expected(sub)}, got {describe(MISSING)}")
        for name, sub in schema.get("properties", {}).items()
    ]
    known = frozenset(name for name, *_ in fields)
    additional = schema.get("additionalProperties", True)
    additional_check = compile_schema(additional) if isinstance(additional, dict) else None
    closed = additional is False

    def check(value: dict[str, Any], path: str) -> None:
        for name, field_check, is_required, missing in fields:
            if name in value:
                field_check(value[name], f"{path}.{name}" if path else name)
            elif is_required:
                raise _Invalid(f"{path}.{name}" if path else name, missing)
        if closed or additional_check is not None:
            for name, item in value.items():
                if name in known:
                    continue
                field_path = f"{path}.{name}" if path else name
                if closed:
                    raise _Invalid(field_path, "unexpected field")
                additional_check(item, field_path)  # type: ignore[misc]

    return check


def _type_check(kind: str) -> Callable[[Any], bool]:
    try:
        return _HAS_TYPE[kind]
    except KeyError:
        raise ValueError(f"JSON Schema type {kind!r} is not supported") from None


_HAS_TYPE: dict[str, Callable[[Any], bool]] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, (list, tuple)),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
}


def _same(value: Any, option: Any) -> bool:
    """JSON equality: True is not 1."""
    return type(value) is type(option) and value == option


def _expected(schema: dict[str, Any]) -> str:
    if schema.get("$ref") == TENSOR_REF:
        return "a tensor"
    if "$ref" in schema:
        return _expected(resolve(schema["$ref"]))
    if "enum" in schema:
        return "one of " + ", ".join(json.dumps(option, ensure_ascii=False) for option in schema["enum"])
    return _EXPECTED.get(schema.get("type", ""), "a value")

