"""Resolve the handler functions a model is served with.

Three layers, searched per function, first match wins:
  1. the user's module (code/inference.py, or SAGEMAKER_PROGRAM);
  2. the selected handler module from handlers/ (BYOC_HANDLER, default "sklearn");
  3. the runtime's defaults (container.contract.defaults).

A function may take one extra trailing `context` argument; that is read from its signature once,
here, not on every request. Mistakes in the contract are start-up errors that say what to change.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from container.contract import defaults
from container.contract.context import Context
from container.errors import HandlerContractError, StartupError

# Each function's arguments without the optional trailing context.
ARITY = {
    "pre_model_fn": ("model_dir",),
    "model_fn": ("model_dir",),
    "model_warmup_fn": ("model_dir", "model"),
    "input_fn": ("input_data", "content_type"),
    "predict_fn": ("data", "model"),
    "output_fn": ("prediction", "accept"),
    "transform_fn": ("model", "input_data", "content_type", "accept"),
}
STEP_FUNCTIONS = ("input_fn", "predict_fn", "output_fn")


@dataclass(frozen=True)
class HandlerFunction:
    """One resolved function, and whether it wants the context."""

    name: str
    function: Callable[..., Any]
    takes_context: bool
    source: str
    # The defining module's BYOC_HANDLER_OPTIONS: what it promises about its own functions
    # ("preload": model_fn's model survives fork; "batchable": predict_fn takes stacked rows).
    options: Mapping[str, Any] = field(default_factory=dict)

    def __call__(self, *args: Any, context: Context) -> Any:
        if self.takes_context:
            return self.function(*args, context)
        return self.function(*args)


@dataclass(frozen=True)
class Handler:
    """The functions a model is served with. Either transform_fn, or the three step functions."""

    model_fn: HandlerFunction
    pre_model_fn: HandlerFunction | None
    model_warmup_fn: HandlerFunction | None
    transform_fn: HandlerFunction | None
    input_fn: HandlerFunction | None
    predict_fn: HandlerFunction | None
    output_fn: HandlerFunction | None

    @property
    def writes_own_output(self) -> bool:
        """True when the response bytes come from user or handler code, not the runtime's encoders."""
        if self.transform_fn is not None:
            return True
        return self.output_fn is not None and self.output_fn.source != defaults.__name__

    @property
    def reads_own_input(self) -> bool:
        """True when the request body goes to user or handler code, not the runtime's decoders."""
        if self.transform_fn is not None:
            return True
        return self.input_fn is not None and self.input_fn.source != defaults.__name__

    def describe(self) -> str:
        used = [
            self.model_fn,
            self.pre_model_fn,
            self.model_warmup_fn,
            self.transform_fn,
            self.input_fn,
            self.predict_fn,
            self.output_fn,
        ]
        return ", ".join(f"{f.name} from {f.source}" for f in used if f is not None)


def resolve(user_module: ModuleType | None, handler_module: ModuleType) -> Handler:
    """Combine the layers into one Handler; raise HandlerContractError for a broken contract."""
    layers = [m for m in (user_module, handler_module, defaults) if m is not None]
    for module in layers:
        _check_transform_combination(module)
    pipeline_layer = _pipeline_layer(layers)
    uses_transform = _defines(pipeline_layer, "transform_fn")

    def pick(name: str, search: Sequence[ModuleType]) -> HandlerFunction | None:
        for module in search:
            if _defines(module, name):
                return _wrap(module, name)
        return None

    step_layers = layers[layers.index(pipeline_layer) :]
    model_fn = pick("model_fn", layers)
    assert model_fn is not None  # the runtime's defaults define one
    return Handler(
        model_fn=model_fn,
        pre_model_fn=pick("pre_model_fn", layers),
        model_warmup_fn=pick("model_warmup_fn", layers),
        transform_fn=_wrap(pipeline_layer, "transform_fn") if uses_transform else None,
        input_fn=None if uses_transform else pick("input_fn", step_layers),
        predict_fn=None if uses_transform else pick("predict_fn", step_layers),
        output_fn=None if uses_transform else pick("output_fn", step_layers),
    )


def load_handler_module(name: str) -> ModuleType:
    """Import a handler: a file name in handlers/ ("sklearn"), or any importable dotted path."""
    module_name = name if "." in name else f"handlers.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, "handlers"):
            raise StartupError(f"handler {name!r} failed to import: {exc}") from exc
        available = ", ".join(available_handlers()) or "none"
        raise StartupError(
            f"BYOC_HANDLER={name!r}: no such handler module; available in handlers/: {available}"
        ) from None


def available_handlers() -> list[str]:
    import handlers

    return sorted(m.name for m in pkgutil.iter_modules(handlers.__path__) if not m.name.startswith("_"))


def _pipeline_layer(layers: list[ModuleType]) -> ModuleType:
    """The most specific layer that defines any request-path function decides the pipeline's shape."""
    for module in layers:
        if any(_defines(module, name) for name in ("transform_fn", *STEP_FUNCTIONS)):
            return module
    return defaults


def _check_transform_combination(module: ModuleType) -> None:
    if not _defines(module, "transform_fn"):
        return
    combined = [name for name in STEP_FUNCTIONS if _defines(module, name)]
    if combined:
        raise HandlerContractError(
            f"{_source_name(module)} defines transform_fn together with {', '.join(combined)}: "
            "transform_fn replaces input_fn, predict_fn and output_fn, so define either "
            "transform_fn alone or the other three"
        )


def _defines(module: ModuleType, name: str) -> bool:
    return callable(getattr(module, name, None))


def _wrap(module: ModuleType, name: str) -> HandlerFunction:
    function = getattr(module, name)
    options = dict(getattr(module, "BYOC_HANDLER_OPTIONS", None) or {})
    return HandlerFunction(
        name, function, _takes_context(function, name, module), _source_name(module), options
    )


def _takes_context(function: Callable[..., Any], name: str, module: ModuleType) -> bool:
    expected = ARITY[name]
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return False  # a builtin or C function: call it without context
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) == len(expected):
        return False
    if len(positional) == len(expected) + 1:
        return True
    signature = ", ".join(expected)
    raise HandlerContractError(
        f"{_source_name(module)}.{name} takes {len(positional)} arguments; expected "
        f"{name}({signature}) or {name}({signature}, context)"
    )


def _source_name(module: ModuleType) -> str:
    return module.__name__
