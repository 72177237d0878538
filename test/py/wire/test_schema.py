"""Body validation against protocol.json, with the same paths and messages as the TypeScript side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from mcl_worker.wire import DTYPES, PROTOCOL_VERSION, WireError, itemsize, torch_dtype, validate_body
from mcl_worker.wire.protocol import load_protocol
from mcl_worker.wire.schema import check_schema

GOLDEN = Path(__file__).resolve().parents[3] / "proto" / "golden"
INVALID_BODIES = json.loads((GOLDEN / "invalid_bodies.json").read_text(encoding="utf-8"))["cases"]


def test_every_wire_dtype_is_the_torch_dtype_of_its_name_and_itemsize() -> None:
    # The constants are read from protocol.json; torch must agree with its itemsizes.
    for name in DTYPES:
        assert torch.empty((), dtype=torch_dtype(name)).element_size() == itemsize(name), name


def test_every_schema_uses_only_supported_keywords() -> None:
    protocol = load_protocol()
    for name, schema in protocol["$defs"].items():
        check_schema(schema, f"$defs.{name}")
    for kind, schema in protocol["bodies"].items():
        check_schema(schema, kind)
    for type_, job in protocol["jobs"].items():
        for kind in ("request", "result", "progress"):
            if job[kind] is not None:
                check_schema(job[kind], f"{type_} {kind}")


def test_unsupported_keyword_is_refused() -> None:
    with pytest.raises(ValueError, match="pattern"):
        check_schema({"type": "string", "pattern": "^a"}, "test")


def test_a_reference_outside_defs_is_refused() -> None:
    with pytest.raises(ValueError, match="names no entry of protocol.json's \\$defs"):
        check_schema({"$ref": "#/$defs/nowhere"}, "test")


# Fields whose schema is a $defs entry are checked and reported as if it were written in place.
REFERENCED_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"model": "model:1", "augment": {"interpolation": "nearest"}}, "augment.interpolation",
     'augment.interpolation: expected one of "bilinear", "bicubic", got "nearest"'),
    ({"model": "model:1", "data": {"workers": 65}}, "data.workers", "data.workers: expected a number <= 64, got 65"),
    ({"dataset": "dataset:1"}, "model", "model: expected a string, got nothing"),
]


@pytest.mark.parametrize(("body", "path", "message"), REFERENCED_FIELDS)
def test_a_referenced_schema_is_checked_in_place(body: dict[str, Any], path: str, message: str) -> None:
    with pytest.raises(WireError) as caught:
        validate_body("request", "embed", body)
    assert (caught.value.message, caught.value.details) == (message, {"path": path})


@pytest.mark.parametrize("case", INVALID_BODIES, ids=lambda c: f"{c['kind']}-{c['type']}-{c['path']}")
def test_invalid_body_is_refused_with_path_and_message(case: dict[str, Any]) -> None:
    with pytest.raises(WireError) as caught:
        validate_body(case["kind"], case["type"], case["body"])
    assert caught.value.code == case["code"]
    assert caught.value.message == case["message"]
    if case["path"] is not None:
        assert caught.value.details == {"path": case["path"]}


VALID_BODIES: list[tuple[str, str, dict[str, Any]]] = [
    ("request", "hello", {"protocols": [PROTOCOL_VERSION], "client": "mcl-bridge/0.1.0"}),
    ("request", "ping", {}),
    ("request", "echo", {"anything": [1, {"x": None}], "t": torch.zeros(2)}),
    ("request", "generate", {"dtype": "bfloat16", "shape": [2, 0]}),
    ("result", "generate", {"tensor": torch.zeros(())}),
    ("request", "sleep", {"seconds": 0, "steps": 1}),
    ("request", "sleep", {"seconds": 0.25, "steps": 3}),
    ("progress", "sleep", {"step": 1}),
    ("result", "sleep", {"steps": 3}),
    ("error", "sleep", {"code": "CANCELLED", "message": "cancelled", "details": {"step": 2}}),
    ("heartbeat", "", {}),
    ("cancel", "", {}),
]


@pytest.mark.parametrize(("kind", "type_", "body"), VALID_BODIES)
def test_valid_body_passes(kind: str, type_: str, body: dict[str, Any]) -> None:
    validate_body(kind, type_, body)
