"""What a handler module declares about itself, in one typed object: `HANDLER = HandlerSpec(...)`.

The runtime, `byoc package` and `byoc inspect` ask the handler's spec instead of knowing any
framework: which functions serve the model, what the handler promises about them (options), which
files in a model directory are its models, which packages the manifest records (and which must
match at load), what `byoc inspect` should check, how a batch's prediction is cut back per request,
which response type it answers by default, and the settings it reads. A module without a spec (a
dotted BYOC_HANDLER, an older handler) is read the way a user's inference.py is: its functions and
its BYOC_HANDLER_OPTIONS.

Everything here is checked when the spec is built, so a mistake in a handler stops the server at
start with a message saying what to change.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

from container.archives.manifest import LEGACY_FILENAMES, canonical
from container.errors import HandlerContractError

# Every function a handler (or a user module) may define.
FUNCTION_NAMES = (
    "pre_model_fn",
    "model_fn",
    "model_warmup_fn",
    "input_fn",
    "predict_fn",
    "output_fn",
    "transform_fn",
)
OPTIONS_VARIABLE = "BYOC_HANDLER_OPTIONS"


@dataclass(frozen=True)
class HandlerOptions:
    """What a module promises about its own functions."""

    # model_fn's model survives fork() (plain data: no threads, sessions or device handles), so it
    # may be loaded once in the main process and shared by the workers' memory.
    preload: bool = False
    # True: predict_fn takes any number of rows and answers one entry per row, each as it would
    # alone, so concurrent requests may share one call. False: never batch. None (not said): batch
    # once checks against the one-by-one path show that it answers alike (container.inference.autobatch).
    batchable: bool | None = None
    # output_fn writes CSV and JSON Lines answers one line per input row, in order, so a body without
    # a size limit (SAGEMAKER_MAX_PAYLOAD_IN_MB=0) may be answered piece by piece.
    line_per_row: bool = False

    @classmethod
    def parse(cls, raw: Any, source: str) -> HandlerOptions:
        """Options from a spec or a module's BYOC_HANDLER_OPTIONS dict; a misspelt key is an error."""
        if raw is None:
            return cls()
        if isinstance(raw, cls):
            return raw
        if not isinstance(raw, Mapping):
            raise HandlerContractError(
                f"{source}: {OPTIONS_VARIABLE} must be a dict or a container.HandlerOptions, "
                f"not {type(raw).__name__}"
            )
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = [str(key) for key in raw if key not in valid]
        if unknown:
            raise HandlerContractError(
                f"{source}: unknown {OPTIONS_VARIABLE} key{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(repr(k) for k in unknown)}; the valid keys are {', '.join(valid)}"
            )
        for key, value in raw.items():
            if not isinstance(value, bool):
                raise HandlerContractError(
                    f"{source}: {OPTIONS_VARIABLE}[{key!r}] must be True or False, not {value!r}"
                )
        return cls(**raw)


@dataclass(frozen=True)
class ArchiveContents:
    """What `byoc inspect` found in a model archive, for a handler's inspect rules. Pure data."""

    # Every regular file's path inside the archive (POSIX, relative to its root).
    names: frozenset[str]
    # The archive's manifest, when it has a readable one.
    manifest: Mapping[str, Any] | None = None

    @property
    def root_files(self) -> list[str]:
        """The non-hidden files at the top of the model directory (where SageMaker extracts it).

        The manifest is hidden; an archive made before it was hidden has it here as
        byoc-manifest.json.
        """
        return sorted(n for n in self.names if "/" not in n and not n.startswith("."))

    @property
    def has_code(self) -> bool:
        return any(name.startswith("code/") for name in self.names)


@dataclass(frozen=True)
class Review:
    """A handler's findings about an archive: warnings, and problems that make it unfit to deploy."""

    warnings: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One request for the contract suite (tests/handlers): a body, its type, its number of rows."""

    body: bytes
    content_type: str
    rows: int = 1
    # Why a bad sample is bad (for the test's message); empty for good ones.
    why: str = ""


@dataclass(frozen=True)
class HandlerExamples:
    """A tiny model and requests that exercise a handler, written by its spec's `examples` hook.

    `requests` must cover every type in the spec's input_types; each must be answered with 200 in
    every type of output_types. `bad_requests` must each be answered with a 4xx and a JSON body.
    """

    model_dir: Path
    requests: tuple[Sample, ...]
    bad_requests: tuple[Sample, ...] = ()
    # Settings the example needs (BYOC_MODEL_FILE, ...), as environment variables.
    env: Mapping[str, str] = field(default_factory=dict)


Splitter = Callable[[Any, Sequence[int]], list[Any]]
Validator = Callable[[Any, Any], Any]
InspectRules = Callable[[ArchiveContents], Review]
# Called with container.config.EnvReader: the handler's settings are read through the same parser
# as the runtime's own, so a bad value stops the server with a message naming the variable.
SettingsReader = Callable[[Any], Any]


@dataclass(frozen=True)
class HandlerSpec:
    """Everything the toolkit needs to know about a handler. See the README, "Writing a handler"."""

    # The name BYOC_HANDLER selects it by: its file name in handlers/ (handlers/sklearn.py: "sklearn").
    name: str
    # --- the functions (any may be left out: the runtime's defaults take their place) ---
    model_fn: Callable[..., Any] | None = None
    input_fn: Callable[..., Any] | None = None
    predict_fn: Callable[..., Any] | None = None
    output_fn: Callable[..., Any] | None = None
    transform_fn: Callable[..., Any] | None = None
    pre_model_fn: Callable[..., Any] | None = None
    model_warmup_fn: Callable[..., Any] | None = None
    options: HandlerOptions = HandlerOptions()
    # --- the model directory ---
    # Patterns (fnmatch, case-insensitive) of the files at the top of a model directory this handler
    # loads: how the handler is chosen when BYOC_HANDLER is unset, and what `byoc package` expects.
    model_files: tuple[str, ...] = ()
    # Distributions whose versions `byoc package` records in the manifest (python is always
    # recorded); the server refuses to start with this handler when one is not installed.
    packages: tuple[str, ...] = ()
    # Of `packages`, those whose major.minor at load must equal the recorded one (a model saved by
    # one minor version may not load, or may predict differently, in another).
    strict_packages: tuple[str, ...] = ()
    # --- requests ---
    # The Content-Types its input_fn (or the runtime's, if it has none) reads, and the types its
    # output_fn (or the runtime's) writes: what Accept is negotiated over, and what the contract
    # suite tests. Empty: the runtime's codecs' types.
    input_types: tuple[str, ...] = ()
    output_types: tuple[str, ...] = ()
    # The response type when Accept is missing or */*; SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, when set,
    # wins. None: the runtime's (application/json).
    default_accept: str | None = None
    # Checks one request's decoded input against the model before it may share a batch, so that a
    # request the model cannot take fails alone: validate_input(data, model) returns the input
    # (converted if need be, e.g. numeric strings to numbers) or raises BadRequest. Called only when
    # predict_fn is the handler's own, and off the model thread: it may only read the model.
    # predict_fn still checks what it is given (it serves lone requests, and is called directly).
    validate_input: Validator | None = None
    # Cuts a batch's prediction into one per request: split_prediction(prediction, row_counts)
    # returns one part per count, or raises container.CannotSplit (the batch is then predicted
    # request by request). None: arrays and lists are cut by rows, anything else is not cut.
    split_prediction: Splitter | None = None
    # --- packaging ---
    # `byoc inspect`'s rules for this handler's archives: a pure function of the archive's contents.
    inspect: InspectRules | None = None
    # Reads the handler's own settings: settings(env) -> a frozen object the functions find in
    # context.config.handler_settings.
    settings: SettingsReader | None = None
    # Writes a tiny example model and sample requests into a directory, for the contract suite.
    examples: Callable[[Path], HandlerExamples] | None = None
    # The module the spec was read from (filled in when it is loaded): named in logs.
    module: str = ""

    def __post_init__(self) -> None:
        where = self.module or f"handler {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise HandlerContractError("a HandlerSpec needs a name: the name BYOC_HANDLER selects it by")
        if not isinstance(self.options, HandlerOptions):
            object.__setattr__(self, "options", HandlerOptions.parse(self.options, where))
        for name in FUNCTION_NAMES:
            function = getattr(self, name)
            if function is not None and not callable(function):
                raise HandlerContractError(
                    f"{where}: {name} must be a function, not {type(function).__name__}"
                )
        if self.transform_fn is not None:
            combined = [n for n in ("input_fn", "predict_fn", "output_fn") if getattr(self, n) is not None]
            if combined:
                raise HandlerContractError(
                    f"{where} defines transform_fn together with {', '.join(combined)}: transform_fn "
                    "replaces input_fn, predict_fn and output_fn, so define either transform_fn alone "
                    "or the other three"
                )
        for name in ("model_files", "packages", "strict_packages", "input_types", "output_types"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
                raise HandlerContractError(f"{where}: {name} must be a tuple of non-empty strings")
            object.__setattr__(self, name, tuple(value))
        recorded = {canonical(entry) for entry in self.packages}
        loose = [p for p in self.strict_packages if p not in recorded]
        if loose:
            raise HandlerContractError(
                f"{where}: strict_packages {', '.join(loose)} must also be listed in packages"
            )
        if (
            self.default_accept is not None
            and self.output_types
            and self.default_accept not in self.output_types
        ):
            raise HandlerContractError(
                f"{where}: default_accept {self.default_accept!r} is not one of its output_types "
                f"({', '.join(self.output_types)})"
            )

    @property
    def source(self) -> str:
        """The module name that logs give for its functions."""
        return self.module or self.name

    def functions(self) -> dict[str, Callable[..., Any]]:
        """The functions it defines, by name."""
        return {name: getattr(self, name) for name in FUNCTION_NAMES if getattr(self, name) is not None}

    def claims(self, file_name: str) -> bool:
        """Is `file_name` (a file at the top of a model directory) one of this handler's models?"""
        lowered = file_name.lower()
        return any(fnmatch.fnmatchcase(lowered, pattern.lower()) for pattern in self.model_files)


def is_hidden_or_manifest(file_name: str) -> bool:
    """Names no handler's model can have: hidden files (the manifest among them) and old manifests."""
    name = PurePosixPath(file_name).name
    return name.startswith(".") or name in LEGACY_FILENAMES


def spec_of(module: ModuleType, name: str | None = None) -> HandlerSpec:
    """The module's HANDLER spec, or one read from its functions and BYOC_HANDLER_OPTIONS.

    A module with a spec may not also define, at its top level, a contract function the spec leaves
    out: the spec would silently ignore it.
    """
    declared = getattr(module, "HANDLER", None)
    if declared is None:
        functions = {n: getattr(module, n) for n in FUNCTION_NAMES if callable(getattr(module, n, None))}
        options = HandlerOptions.parse(getattr(module, OPTIONS_VARIABLE, None), module.__name__)
        return HandlerSpec(name=name or module.__name__, options=options, module=module.__name__, **functions)
    if not isinstance(declared, HandlerSpec):
        raise HandlerContractError(
            f"{module.__name__}.HANDLER must be a container.HandlerSpec, not {type(declared).__name__}"
        )
    if hasattr(module, OPTIONS_VARIABLE):
        raise HandlerContractError(
            f"{module.__name__} has both HANDLER and {OPTIONS_VARIABLE}: give the options to HandlerSpec"
        )
    undeclared = [
        n
        for n in FUNCTION_NAMES
        if callable(getattr(module, n, None)) and getattr(module, n) is not getattr(declared, n)
    ]
    if undeclared:
        raise HandlerContractError(
            f"{module.__name__} defines {', '.join(undeclared)}, which its HANDLER does not declare: "
            f"pass {', '.join(f'{n}={n}' for n in undeclared)} to HandlerSpec"
        )
    return declared if declared.module else dataclasses.replace(declared, module=module.__name__)
