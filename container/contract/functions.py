"""Resolve the handler functions a model is served with.

Three layers, searched per function, first match wins:
  1. the user's module (code/inference.py, or SAGEMAKER_PROGRAM);
  2. the chosen handler's spec (container.contract.registry says which handler, and why);
  3. the runtime's defaults (container.contract.defaults).

A function may take one extra trailing `context` argument; that is read from its signature once,
here, not on every request. Mistakes in the contract are start-up errors that say what to change.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from container.codecs import encode
from container.contract import defaults
from container.contract.context import Context
from container.contract.spec import (
    OPTIONS_VARIABLE,
    HandlerOptions,
    HandlerSpec,
    Splitter,
    Validator,
    spec_of,
)
from container.errors import HandlerContractError

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
    # What the defining layer promises about its own functions (its spec's options, or a module's
    # BYOC_HANDLER_OPTIONS): preload, that model_fn's model survives fork; batchable, that
    # predict_fn takes stacked rows.
    options: HandlerOptions = field(default_factory=HandlerOptions)

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
    # The handler layer's spec: what the runtime asks about the handler besides its functions.
    spec: HandlerSpec = field(default_factory=lambda: HandlerSpec(name=defaults.__name__))
    # The response types the output_fn (or transform_fn) in use writes; None when it is user code
    # that declares none, which is then handed the client's preference.
    output_types: tuple[str, ...] | None = None
    # The spec's check of one request's input, when predict_fn is the spec's own (see HandlerSpec).
    validate_input: Validator | None = None

    @property
    def split_prediction(self) -> Splitter | None:
        """How a batch's prediction is cut per request: the handler's way (None: the runtime's).

        Also for a user's predict_fn served over the handler: it answers in the handler's shape,
        which the handler's output_fn writes. A cut that does not fit raises CannotSplit, and the
        batch is then predicted request by request, so it is never wrong, only slower.
        """
        return self.spec.split_prediction

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


def resolve(user_module: ModuleType | None, handler: HandlerSpec | ModuleType) -> Handler:
    """Combine the layers into one Handler; raise HandlerContractError for a broken contract."""
    spec = handler if isinstance(handler, HandlerSpec) else spec_of(handler)
    layers = [_Layer.of_module(user_module)] if user_module is not None else []
    layers += [_Layer.of_spec(spec), _Layer.of_module(defaults)]
    for layer in layers:
        _check_transform_combination(layer)
    pipeline_layer = _pipeline_layer(layers)
    uses_transform = pipeline_layer.defines("transform_fn")

    def pick(name: str, search: Sequence[_Layer]) -> HandlerFunction | None:
        for layer in search:
            if layer.defines(name):
                return layer.wrap(name)
        return None

    step_layers = layers[layers.index(pipeline_layer) :]
    model_fn = pick("model_fn", layers)
    assert model_fn is not None  # the runtime's defaults define one
    input_fn = None if uses_transform else pick("input_fn", step_layers)
    predict_fn = None if uses_transform else pick("predict_fn", step_layers)
    output_fn = None if uses_transform else pick("output_fn", step_layers)
    transform_fn = pipeline_layer.wrap("transform_fn") if uses_transform else None
    writer = transform_fn or output_fn
    assert writer is not None
    return Handler(
        model_fn=model_fn,
        pre_model_fn=pick("pre_model_fn", layers),
        model_warmup_fn=pick("model_warmup_fn", layers),
        transform_fn=transform_fn,
        input_fn=input_fn,
        predict_fn=predict_fn,
        output_fn=output_fn,
        spec=spec,
        output_types=_output_types(writer, spec),
        validate_input=spec.validate_input if _is_from(predict_fn, spec) else None,
    )


def _output_types(writer: HandlerFunction, spec: HandlerSpec) -> tuple[str, ...] | None:
    if writer.source == defaults.__name__:
        return tuple(encode.ENCODERS)
    if _is_from(writer, spec):
        # A spec that declares no types and writes its own output: treated as user code is.
        return spec.output_types or None
    return None


def _is_from(function: HandlerFunction | None, spec: HandlerSpec) -> bool:
    return function is not None and function.function is getattr(spec, function.name)


@dataclass(frozen=True)
class _Layer:
    """One place functions are looked up in: a module (user code, the defaults) or a handler spec."""

    source: str
    functions: Mapping[str, Callable[..., Any]]
    options: HandlerOptions

    @classmethod
    def of_module(cls, module: ModuleType) -> _Layer:
        functions = {name: getattr(module, name) for name in ARITY if callable(getattr(module, name, None))}
        options = HandlerOptions.parse(getattr(module, OPTIONS_VARIABLE, None), module.__name__)
        return cls(module.__name__, functions, options)

    @classmethod
    def of_spec(cls, spec: HandlerSpec) -> _Layer:
        return cls(spec.source, spec.functions(), spec.options)

    def defines(self, name: str) -> bool:
        return name in self.functions

    def wrap(self, name: str) -> HandlerFunction:
        function = self.functions[name]
        return HandlerFunction(
            name, function, _takes_context(function, name, self.source), self.source, self.options
        )


def _pipeline_layer(layers: list[_Layer]) -> _Layer:
    """The most specific layer that defines any request-path function decides the pipeline's shape."""
    for layer in layers:
        if any(layer.defines(name) for name in ("transform_fn", *STEP_FUNCTIONS)):
            return layer
    return layers[-1]


def _check_transform_combination(layer: _Layer) -> None:
    if not layer.defines("transform_fn"):
        return
    combined = [name for name in STEP_FUNCTIONS if layer.defines(name)]
    if combined:
        raise HandlerContractError(
            f"{layer.source} defines transform_fn together with {', '.join(combined)}: "
            "transform_fn replaces input_fn, predict_fn and output_fn, so define either "
            "transform_fn alone or the other three"
        )


def _takes_context(function: Callable[..., Any], name: str, source: str) -> bool:
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
        f"{source}.{name} takes {len(positional)} arguments; expected "
        f"{name}({signature}) or {name}({signature}, context)"
    )
