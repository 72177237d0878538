"""Plugin references `py:<module>:<attr>`: checked, resolved to a callable, and called.

A plugin is arbitrary code that runs inside the worker with the worker's rights, so the worker
imports only modules its own configuration names: $MCL_WORKER_PLUGINS in its environment, a
comma-separated list of modules or packages (`my_pkg` allows `my_pkg.models`). It imports the
module a reference names when it is first used, from its own Python path (the package installed
in the worker's environment or on its PYTHONPATH). A reference is a string and the keyword
arguments are JSON values: no code or pickled object crosses the wire.

A reference into Python's standard library or builtins (`py:os:system`, `py:builtins:eval`) is
refused whatever $MCL_WORKER_PLUGINS says, before anything is imported; so is an allowed module's
attribute that is defined there (`from subprocess import run` in a plugin module): those would
turn a config's arguments into commands.

The adapters that give each kind its contract live beside what they adapt to: encoders in
mcl_worker.models.plugin_encoder, datasets in mcl_worker.data.plugin_dataset; a loss needs none
(load_loss). mcl_worker.plugins documents the contracts and checks plugins before a run.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Literal

from torch import Tensor

from .errors import InvalidArgument

PREFIX = "py:"
ALLOW_ENV = "MCL_WORKER_PLUGINS"
PluginKind = Literal["encoder", "dataset", "loss"]
JsonArgs = Mapping[str, Any]
_REFERENCE = re.compile(r"^py:([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):([A-Za-z_]\w*)$")
# Where each kind's reference travels in a job body (wire details.path).
_FIELD: dict[PluginKind, str] = {"encoder": "arch", "dataset": "uri", "loss": "loss"}


def is_plugin(name: str) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


class PluginError(InvalidArgument):
    """A plugin failed one of its checks; the message names the plugin, the check and what was expected."""

    def __init__(self, kind: PluginKind, ref: str, check: str, expected: str, got: str) -> None:
        super().__init__(_FIELD[kind], f"{kind} plugin {ref} failed the {check!r} check: expected {expected}, got {got}")
        self.kind = kind
        self.ref = ref
        self.check = check
        self.expected = expected
        self.got = got
        self.details.update({"plugin": kind, "ref": ref, "check": check, "expected": expected, "got": got})


def allowed_modules() -> tuple[str, ...]:
    """The modules and packages this worker may import plugins from ($MCL_WORKER_PLUGINS)."""
    return tuple(name.strip() for name in os.environ.get(ALLOW_ENV, "").split(",") if name.strip())


def resolve(kind: PluginKind, ref: str) -> Callable[..., Any]:
    """The callable `ref` names: its module imported (only that one), its attribute looked up."""
    match = _REFERENCE.match(ref) if isinstance(ref, str) else None
    if match is None:
        raise PluginError(kind, str(ref), "reference", "py:<module.path>:<attribute>", repr(ref))
    module_name, attr = match.groups()
    if _is_stdlib(module_name):
        raise PluginError(
            kind, ref, "stdlib", "a module of your own (Python's standard library and builtins are never plugins)", module_name
        )
    allowed = allowed_modules()
    if not any(module_name == name or module_name.startswith(name + ".") for name in allowed):
        raise PluginError(
            kind, ref, "allowed", f"a module the worker's ${ALLOW_ENV} names (it names {', '.join(allowed) or 'none'})",
            module_name,
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any error while importing user code is the plugin's
        raise PluginError(
            kind, ref, "import", f"module {module_name!r} importable by the worker's Python (installed, or on PYTHONPATH)",
            exception_text(exc),
        ) from None
    if not hasattr(module, attr):
        raise PluginError(kind, ref, "attribute", f"{module_name} to define {attr!r}", "no such attribute")
    target = getattr(module, attr)
    if not callable(target):
        raise PluginError(kind, ref, "callable", f"{attr} to be callable", type(target).__name__)
    defined_in = _defining_module(target)
    if _is_stdlib(defined_in):
        raise PluginError(
            kind, ref, "stdlib", f"{attr} defined in your own module, not taken from Python's standard library or builtins",
            f"{attr} from {defined_in}",
        )
    return target


def _is_stdlib(module_name: str) -> bool:
    """Whether `module_name` is (inside) a module of Python's standard library or a builtin one."""
    top = module_name.split(".", 1)[0]
    return top in sys.stdlib_module_names or top in sys.builtin_module_names or top == "__main__"


def _defining_module(target: Callable[..., Any]) -> str:
    """The module that defines `target`, seen through functools.partial (which stdlib itself defines)."""
    while isinstance(target, partial):
        target = target.func
    return str(getattr(target, "__module__", None) or type(target).__module__)


def call_plugin(kind: PluginKind, ref: str, target: Callable[..., Any], args: JsonArgs) -> Any:
    try:
        return target(**args)
    except Exception as exc:
        raise PluginError(kind, ref, "build", f"{ref.rsplit(':', 1)[1]}(**{_json(args)}) to succeed", exception_text(exc)) from None


def load_loss(ref: str, args: JsonArgs) -> Callable[..., Tensor]:
    """The loss `ref` names with its keyword arguments bound."""
    return partial(resolve("loss", ref), **args)


def exception_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def describe_value(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a {value.dtype} tensor {list(value.shape)}"
    return type(value).__name__


def _json(args: JsonArgs) -> str:
    return json.dumps(dict(args), sort_keys=True)
