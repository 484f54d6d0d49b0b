"""The user documentation against the code it describes: each test fails when one drifts from the other.

docs/commands.md is generated from the argparse definitions (docs/generate.py); the environment and
HTTP references are written by hand and checked here against what the runtime reads and returns.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from bench import report
from container.config import load_config
from docs import generate

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
USER_DOCS = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *DOCS.glob("*.md")])
MAX_PROSE_LINE = 120
SECTION = re.compile(r"^## `([^`]+)`$", re.MULTILINE)


def _committed_sections(text: str) -> dict[str, str]:
    """Each command's section of docs/commands.md as committed, keyed by the command."""
    starts = list(SECTION.finditer(text))
    sections = {}
    for match, following in zip(starts, [*starts[1:], None], strict=True):
        end = following.start() if following else len(text)
        sections[match.group(1)] = text[match.start() : end].rstrip("\n")
    return sections


def test_command_reference_matches_the_parsers() -> None:
    generated = generate.sections()
    committed_text = (DOCS / "commands.md").read_text()
    committed = _committed_sections(committed_text)
    drifted = [path for path, text in generated.items() if committed.get(path) != text.rstrip("\n")]
    removed = [path for path in committed if path not in generated]
    problems = []
    if drifted:
        problems.append(f"options or help changed for: {', '.join(drifted)}")
    if removed:
        problems.append(f"documented but no longer a command: {', '.join(removed)}")
    if not problems and committed_text != generate.document(generated):
        problems.append("the header or the order of the commands changed")
    assert not problems, (
        f"docs/commands.md is out of date ({'; '.join(problems)}). Regenerate it: {generate.REGENERATE}"
    )


def test_command_reference_covers_byoc_local_and_serve() -> None:
    # The walk must reach nested subcommands and the image's entry point, not stop at the top level.
    paths = set(generate.sections())
    assert {
        "byoc",
        "byoc serve",
        "byoc package",
        "byoc deploy",
        "byoc local",
        "byoc local up",
        "serve",
    } <= paths


# --- the environment reference ------------------------------------------------------------------


class _RecordingEnvironment(Mapping[str, str]):
    """An empty environment that remembers every name it was asked for."""

    def __init__(self) -> None:
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def _table_variables(text: str) -> set[str]:
    # Every `NAME` in the first cell of a table row: "| `A` |" or "| `A`, `B` |".
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def test_environment_reference_lists_every_variable_the_config_reads() -> None:
    environment = _RecordingEnvironment()
    load_config(environment)
    assert len(environment.asked) >= 10, (
        f"load_config read only {sorted(environment.asked)} from its argument"
    )
    documented = _table_variables((DOCS / "environment.md").read_text())
    missing = sorted(environment.asked - documented)
    assert not missing, f"load_config reads {', '.join(missing)}: document them in docs/environment.md"


def test_environment_reference_lists_only_variables_the_code_reads() -> None:
    documented = _table_variables((DOCS / "environment.md").read_text())
    sources = [
        *ROOT.glob("container/**/*.py"),
        *ROOT.glob("handlers/**/*.py"),  # a handler may be a package (handlers/xgboost/)
        *ROOT.glob("deploy/**/*.py"),
        ROOT / "byoc.py",
        ROOT / "build_and_push.sh",
        *ROOT.glob("local_test/*.sh"),
    ]
    code = "\n".join(path.read_text() for path in sources)
    stale = sorted(name for name in documented if name not in code)
    assert not stale, f"docs/environment.md documents {', '.join(stale)}, which no code reads"


# --- the HTTP reference -----------------------------------------------------------------------

# Raised while loading the model: /ping's 503 carries their message under model_not_ready, so a
# client never sees these codes themselves.
LOAD_ONLY_CODES = {
    "ambiguous_model_file",
    "no_model_dir",
    "no_model_file",
    "no_model_fn",
    "not_an_estimator",
    "skops_missing",
    "unknown_model_format",
    "untrusted_types",
    "version_mismatch",
}


def _error_codes_in(path: Path) -> set[str]:
    """String constants given as an error `code`: `code="x"` arguments and `code = ...` assignments."""
    codes: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        keyword = isinstance(node, ast.keyword) and node.arg == "code"
        assignment = isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "code" for t in node.targets
        )
        if keyword or assignment:
            codes.update(_results(node.value))
    return codes


def _results(node: ast.expr) -> set[str]:
    """The strings an expression can evaluate to: "a", "a" if x else "b", {1: "a"}.get(n, "b")."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _results(node.body) | _results(node.orelse)
    if isinstance(node, ast.Dict):
        return set().union(*(_results(value) for value in node.values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):  # {...}.get(key, default)
        return _results(node.func.value) | set().union(*(_results(arg) for arg in node.args[1:]))
    return set()


def test_http_reference_lists_every_error_code_a_client_can_get() -> None:
    sources = [*ROOT.glob("container/**/*.py"), *ROOT.glob("handlers/**/*.py")]
    codes = set().union(*(_error_codes_in(path) for path in sources)) - LOAD_ONLY_CODES
    assert {"wrong_feature_count", "payload_too_large", "not_found", "model_loading"} <= codes
    documented = set(re.findall(r"`([a-z][a-z0-9_]+)`", (DOCS / "http.md").read_text()))
    missing = sorted(codes - documented)
    assert not missing, f"error codes missing from docs/http.md: {', '.join(missing)}"


# --- the benchmark's tables ---------------------------------------------------------------------


def test_benchmark_tables_in_the_readmes_come_from_the_committed_results() -> None:
    # README.md shows bench/results/latest.png: its table must be of the same run.
    results = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    stale = [
        str(path.relative_to(ROOT))
        for path, text in report.published(results).items()
        if path.read_text() != text
    ]
    assert not stale, (
        f"the benchmark results in {', '.join(stale)} are not those of bench/results/latest.json: "
        "python -m bench.report bench/results/latest.json --docs"
    )


# --- every user document ------------------------------------------------------------------------


def _prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Lines outside code blocks and tables (generated tables may be as wide as their data)."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced and not line.startswith("|"):
            yield number, line


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_prose_lines_fit_in_120_characters(path: Path) -> None:
    long = [f"line {n} ({len(line)})" for n, line in _prose_lines(path) if len(line) > MAX_PROSE_LINE]
    assert not long, f"{path.relative_to(ROOT)}: lines over {MAX_PROSE_LINE} characters: {', '.join(long)}"


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for a Markdown file's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", path.read_text(), re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


@pytest.mark.parametrize("path", USER_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings(path: Path) -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", path.read_text())
    broken = []
    for link in links:
        if "://" in link or link.startswith("mailto:"):
            continue
        target, _, anchor = link.partition("#")
        file = path.parent / target if target else path
        if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
            broken.append(link)
    assert not broken, f"{path.relative_to(ROOT)} has links that lead nowhere: {', '.join(broken)}"
