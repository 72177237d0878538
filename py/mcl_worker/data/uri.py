"""Dataset URIs: `scheme:path?key=value&key=value`.

The path and the values are percent-decoded (write `%3F` for a `?` inside a path). Each scheme
declares its query parameters with a type, a default and a range; a key it does not declare,
a repeated key or a value of the wrong type is refused with an error that names the key and
lists the valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union
from urllib.parse import unquote

from .errors import DatasetUriError

ParamValue = Union[int, float, str]


@dataclass(frozen=True)
class Param:
    """One query parameter: its type, default and inclusive range (for numbers)."""

    kind: type[int] | type[float] | type[str]
    default: ParamValue
    low: float | None = None
    high: float | None = None
    help: str = ""


@dataclass(frozen=True)
class DatasetUri:
    scheme: str
    path: str
    query: dict[str, str]
    text: str  # the URI as the user wrote it, for error messages


def parse_uri(text: str) -> DatasetUri:
    """Split `scheme:path?query` without interpreting the parameters."""
    if not isinstance(text, str) or not text.strip():
        raise DatasetUriError(f"the dataset URI must be a non-empty string, got {text!r}")
    scheme, colon, rest = text.partition(":")
    if not colon or not scheme or not scheme.isidentifier():
        raise DatasetUriError(
            f"{text!r} is not a dataset URI of the form scheme:path (for example "
            f"npz:{text} or folder:{text})"
        )
    path, _, query_text = rest.partition("?")
    query: dict[str, str] = {}
    for item in query_text.split("&") if query_text else []:
        key, eq, value = item.partition("=")
        key = unquote(key)
        if not eq or not key:
            raise DatasetUriError(
                f"query item {item!r} of {text!r} is not key=value", scheme=scheme
            )
        if key in query:
            raise DatasetUriError(
                f"query parameter {key!r} is given twice in {text!r}", scheme=scheme, param=key
            )
        query[key] = unquote(value)
    return DatasetUri(scheme=scheme, path=unquote(path), query=query, text=text)


def bind_params(uri: DatasetUri, spec: dict[str, Param], where: str) -> dict[str, ParamValue]:
    """Typed parameters of `uri` under `spec`, defaults filled in; `where` names the scheme."""
    unknown = sorted(set(uri.query) - set(spec))
    if unknown:
        valid = ", ".join(f"{name} ({p.help or p.kind.__name__})" for name, p in spec.items())
        raise DatasetUriError(
            f"unknown query parameter {unknown[0]!r} for {where} in {uri.text!r}; "
            f"valid parameters: {valid or 'none'}",
            scheme=uri.scheme,
            param=unknown[0],
        )
    bound: dict[str, ParamValue] = {}
    for name, param in spec.items():
        raw = uri.query.get(name)
        bound[name] = param.default if raw is None else _convert(uri, where, name, param, raw)
    return bound


def _convert(uri: DatasetUri, where: str, name: str, param: Param, raw: str) -> ParamValue:
    value: ParamValue
    try:
        value = param.kind(raw)
    except ValueError:
        article = "an integer" if param.kind is int else "a number"
        raise DatasetUriError(
            f"query parameter {name!r} of {where} must be {article}, got {raw!r}",
            scheme=uri.scheme,
            param=name,
        ) from None
    if isinstance(value, float) and value != value:
        raise DatasetUriError(
            f"query parameter {name!r} of {where} must be a finite number, got {raw!r}",
            scheme=uri.scheme,
            param=name,
        )
    if isinstance(value, (int, float)):
        if (param.low is not None and value < param.low) or (
            param.high is not None and value > param.high
        ):
            raise DatasetUriError(
                f"query parameter {name!r} of {where} must be in [{_fmt(param.low)}, "
                f"{_fmt(param.high)}], got {raw!r}",
                scheme=uri.scheme,
                param=name,
            )
    return value


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "…"
    return str(int(bound)) if float(bound).is_integer() else str(bound)
