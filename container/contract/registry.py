"""Which handler serves a model: the handler modules in handlers/, their specs, and the choice.

With BYOC_HANDLER set, that handler. Otherwise the model directory says: the handler its manifest
names (the one `byoc package` verified it with), else the one whose declared model files are there
(`xgboost-model` -> xgboost, `*.joblib` -> sklearn, ...), else the default. Files of several
handlers are an error listing them, unless the user module defines model_fn: it loads whatever it
loads, and the default handler supplies the functions it leaves out. The choice comes with the
reason, for the log.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import pkgutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from container.archives import manifest
from container.config import ServerConfig
from container.contract.spec import HandlerSpec, is_hidden_or_manifest, spec_of
from container.errors import StartupError

log = logging.getLogger(__name__)


class AmbiguousModelFiles(StartupError):
    """The model directory holds model files of more than one handler."""

    def __init__(self, where: str, claimed: Mapping[str, Sequence[str]]) -> None:
        listing = "; ".join(f"{', '.join(files)} ({name})" for name, files in sorted(claimed.items()))
        super().__init__(
            f"{where} holds model files of several handlers: {listing}. Keep one handler's model files, "
            "or name the handler to serve with in BYOC_HANDLER"
        )
        self.claimed = {name: list(files) for name, files in claimed.items()}


@dataclass(frozen=True)
class Choice:
    """The handler to serve with, and why (for the log)."""

    name: str
    reason: str
    explicit: bool = False  # named by BYOC_HANDLER, rather than found


# --- handler modules --------------------------------------------------------------------------


HANDLERS_PACKAGE = "handlers"


def available_handlers() -> list[str]:
    """The handler modules in handlers/ (modules whose names start with "_" are their helpers).

    Found by name, as plugins are: the runtime sits below its handlers and never imports them
    statically.
    """
    package = importlib.util.find_spec(HANDLERS_PACKAGE)
    if package is None or package.submodule_search_locations is None:
        return []
    found = pkgutil.iter_modules(package.submodule_search_locations)
    return sorted(m.name for m in found if not m.name.startswith("_"))


def load_handler_module(name: str) -> ModuleType:
    """Import a handler: a file name in handlers/ ("sklearn"), or any importable dotted path."""
    module_name = name if "." in name else f"{HANDLERS_PACKAGE}.{name}"
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name not in (module_name, HANDLERS_PACKAGE):
            raise StartupError(f"handler {name!r} failed to import: {exc}") from exc
        available = ", ".join(available_handlers()) or "none"
        raise StartupError(
            f"BYOC_HANDLER={name!r}: no such handler module; available in handlers/: {available}"
        ) from None


def load_spec(name: str) -> HandlerSpec:
    """The spec of the handler BYOC_HANDLER (or a manifest) calls `name`."""
    return spec_of(load_handler_module(name), name)


def discover() -> tuple[list[HandlerSpec], dict[str, str]]:
    """The specs of every handler in handlers/, and why each of the others could not be read."""
    specs: list[HandlerSpec] = []
    failures: dict[str, str] = {}
    for name in available_handlers():
        try:
            specs.append(load_spec(name))
        except Exception as exc:  # one broken handler must not hide the others
            failures[name] = f"{type(exc).__name__}: {exc}"
    return specs, failures


def missing_packages(spec: HandlerSpec) -> list[str]:
    """The handler's packages that are not installed here (an entry of alternatives: none of them)."""
    installed = manifest.installed_versions(spec.packages)
    return [
        entry.replace(manifest.ALTERNATIVE, " or ")
        for entry in spec.packages
        if manifest.canonical(entry) not in installed
    ]


def require_packages(spec: HandlerSpec) -> None:
    missing = missing_packages(spec)
    if missing:
        raise StartupError(
            f"the {spec.name} handler needs {', '.join(missing)}, which this environment does not have: "
            "install it, or use an image built with this handler"
        )


# --- the choice -------------------------------------------------------------------------------


def claims(files: Iterable[str], specs: Sequence[HandlerSpec]) -> dict[str, list[str]]:
    """Handler name -> the files among `files` (top-level names) that are its model files."""
    claimed: dict[str, list[str]] = {}
    for file_name in sorted(files):
        if is_hidden_or_manifest(file_name):
            continue
        for spec in specs:
            if spec.claims(file_name):
                claimed.setdefault(spec.name, []).append(file_name)
    return claimed


def choose_by_files(
    files: Iterable[str],
    specs: Sequence[HandlerSpec],
    *,
    where: str,
    default: str,
    user_model_fn: bool = False,
) -> Choice:
    """The handler whose model files are among `files`; AmbiguousModelFiles when several are."""
    claimed = claims(files, specs)
    if len(claimed) == 1:
        ((name, found),) = claimed.items()
        patterns = next(s.model_files for s in specs if s.name == name)
        return Choice(name, f"{where} holds {', '.join(found)}: model files of the {name} handler "
                      f"({', '.join(patterns)})")  # fmt: skip
    if not claimed:
        return Choice(default, f"no file in {where} is a handler's model file: the default handler")
    if user_model_fn:
        listing = "; ".join(f"{', '.join(found)} ({name})" for name, found in sorted(claimed.items()))
        return Choice(
            default,
            f"{where} holds model files of several handlers ({listing}), and the user module defines "
            "model_fn: the default handler supplies the functions it leaves out",
        )
    raise AmbiguousModelFiles(where, claimed)


def choose(config: ServerConfig, user_model_fn: bool) -> Choice:
    """The handler to serve `config.model_dir` with (see the module's docstring)."""
    if config.handler_is_explicit:
        return Choice(config.handler, f"BYOC_HANDLER={config.handler}", explicit=True)
    named = _named_by_manifest(config.model_dir)
    if named is not None:
        return Choice(
            named, f"named by the model's {manifest.FILENAME} (the handler byoc package verified it with)"
        )
    specs, failures = discover()
    for name, why in failures.items():
        log.warning("the %s handler is not available, so its model files are not recognised: %s", name, why)
    return choose_by_files(
        model_dir_files(config.model_dir),
        specs,
        where=str(config.model_dir),
        default=config.handler,
        user_model_fn=user_model_fn,
    )


def model_dir_files(model_dir: Path) -> list[str]:
    """The regular files at the top of the model directory (none when it does not exist)."""
    if not model_dir.is_dir():
        return []
    return sorted(path.name for path in model_dir.iterdir() if path.is_file())


def _named_by_manifest(model_dir: Path) -> str | None:
    # An unreadable manifest is reported by the load's manifest check, with the reason; here it
    # only does not name a handler.
    try:
        saved = manifest.read_model_dir(model_dir)
    except (OSError, ValueError):
        return None
    handler = (saved or {}).get("handler")
    return handler if isinstance(handler, str) and handler else None
