"""docs/commands.md against the argparse definitions it is generated from (docs/generate.py)."""

from __future__ import annotations

import re
from pathlib import Path

from docs import generate

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
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
