"""Every golden vector decodes to its JSON form and re-encodes byte for byte; every invalid one is
refused with its code and the header id it names."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from mcl_worker.wire import (
    REPLAY_WINDOW_MS,
    AuthTag,
    Header,
    Message,
    ReplayGuard,
    WireError,
    decode_message,
    encode_message,
    torch_dtype,
    wire_dtype,
)

GOLDEN = Path(__file__).resolve().parents[3] / "proto" / "golden"


def load_golden(name: str) -> dict[str, Any]:
    golden: dict[str, Any] = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    return golden


def load_cases(name: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = load_golden(name)["cases"]
    return cases


def from_json(value: Any) -> Any:
    """{"$int": "..."} -> int, {"$bytes": "hex"} -> bytes; everything else as is."""
    if isinstance(value, dict):
        if set(value) == {"$int"}:
            return int(value["$int"])
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def tensor_from_json(spec: dict[str, Any]) -> torch.Tensor:
    dtype, shape, values = spec["dtype"], spec["shape"], spec["values"]
    if dtype in ("float16", "bfloat16"):  # raw bits
        bits = torch.tensor(values, dtype=torch.int32).to(torch.int16)  # wraps bits >= 0x8000
        return bits.view(torch_dtype(dtype)).reshape(shape)
    if dtype == "int64":
        return torch.tensor([int(v) for v in values], dtype=torch.int64).reshape(shape)
    return torch.tensor(values, dtype=torch_dtype(dtype)).reshape(shape)


def tensor_to_json_values(tensor: torch.Tensor) -> list[Any]:
    flat = tensor.reshape(-1)
    if tensor.dtype in (torch.float16, torch.bfloat16):
        return [int(b) & 0xFFFF for b in flat.view(torch.int16).tolist()]
    if tensor.dtype == torch.int64:
        return [str(v) for v in flat.tolist()]
    return flat.tolist()


def build_body(wire_body: Any, tensors: list[torch.Tensor]) -> Any:
    """The golden body with each descriptor replaced by its tensor."""
    if isinstance(wire_body, dict):
        if "$tensor" in wire_body:
            return tensors[wire_body["$tensor"]]
        return {key: build_body(item, tensors) for key, item in wire_body.items()}
    if isinstance(wire_body, list):
        return [build_body(item, tensors) for item in wire_body]
    return wire_body


def descriptors_of(body: Any, found: list[torch.Tensor]) -> Any:
    """A decoded body with each tensor replaced by its descriptor, numbered in body order."""
    if isinstance(body, torch.Tensor):
        found.append(body)
        return {"$tensor": len(found) - 1, "dtype": wire_dtype(body.dtype), "shape": list(body.shape)}
    if isinstance(body, dict):
        return {key: descriptors_of(item, found) for key, item in body.items()}
    if isinstance(body, list):
        return [descriptors_of(item, found) for item in body]
    return body


VALID = load_cases("vectors.json")
INVALID = load_cases("invalid.json")


def _key(case: dict[str, Any]) -> bytes | None:
    return None if case["key"] is None else bytes.fromhex(case["key"])


def _auth(case: dict[str, Any]) -> AuthTag | None:
    """The nonce and timestamp of a signed vector's auth frame: what re-encodes it byte for byte."""
    auth = case["auth"]
    return None if auth is None else AuthTag(bytes.fromhex(auth["nonce"]), auth["timestamp"])


def _same_json(actual: Any, expected: Any) -> bool:
    """Equality that tells -0.0 from 0.0 and float from int, as the bytes do."""
    if isinstance(expected, float):
        return isinstance(actual, float) and math.copysign(1.0, actual) == math.copysign(1.0, expected) and actual == expected
    if isinstance(expected, dict):
        return isinstance(actual, dict) and list(actual) == list(expected) and all(_same_json(actual[k], expected[k]) for k in expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(_same_json(a, e) for a, e in zip(actual, expected))
    return type(actual) is type(expected) and actual == expected


@pytest.mark.parametrize("case", VALID, ids=lambda c: c["name"])
def test_golden_decodes_to_its_json_form(case: dict[str, Any]) -> None:
    frames = [bytes.fromhex(f) for f in case["frames"]]
    msg = decode_message(frames, key=_key(case))
    assert msg.header == Header(**case["header"])
    assert msg.auth == _auth(case)
    tensors: list[torch.Tensor] = []
    assert _same_json(descriptors_of(msg.body, tensors), from_json(case["body"]))
    assert len(tensors) == len(case["tensors"])
    for tensor, spec in zip(tensors, case["tensors"]):
        assert list(tensor.shape) == spec["shape"]
        assert tensor_to_json_values(tensor) == spec["values"]


@pytest.mark.parametrize("case", VALID, ids=lambda c: c["name"])
def test_golden_reencodes_byte_for_byte(case: dict[str, Any]) -> None:
    frames = [bytes.fromhex(f) for f in case["frames"]]
    decoded = decode_message(frames, key=_key(case))
    assert [bytes(f).hex() for f in encode_message(decoded, key=_key(case), auth=_auth(case))] == case["frames"]


@pytest.mark.parametrize("case", VALID, ids=lambda c: c["name"])
def test_golden_encodes_from_its_json_form(case: dict[str, Any]) -> None:
    tensors = [tensor_from_json(spec) for spec in case["tensors"]]
    msg = Message(Header(**case["header"]), build_body(from_json(case["body"]), tensors))
    assert [bytes(f).hex() for f in encode_message(msg, key=_key(case), auth=_auth(case))] == case["frames"]


def test_invalid_golden_uses_this_sides_replay_window() -> None:
    assert load_golden("invalid.json")["replay_window_ms"] == REPLAY_WINDOW_MS


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c["name"])
def test_invalid_golden_is_refused(case: dict[str, Any]) -> None:
    frames = [bytes.fromhex(f) for f in case["frames"]]
    now = case["now"]
    replay = None if now is None else ReplayGuard(now=lambda: now)
    if case["replayed"]:
        decode_message(frames, key=_key(case), replay=replay)  # accepted the first time
    with pytest.raises(WireError) as caught:
        decode_message(frames, key=_key(case), max_bytes=case["max_bytes"], replay=replay)
    assert caught.value.code == case["code"], caught.value.message
    assert (caught.value.header.id if caught.value.header else None) == case["header_id"]
    assert (caught.value.details or {}).get("reason") == case["reason"]
