"""The JSONPath subset batch transform's DataProcessing filters accept, parsed and applied. Pure.

AWS documents the operators ("Supported JSONPath Operators",
https://docs.aws.amazon.com/sagemaker/latest/dg/batch-transform-data-processing.html):

    $                      the root; required at the start
    .name                  a child by name                       $.id
    *                      every child, by name or index         $.id.*  $[*]
    ['name'(,'name')]      children by name                      $['id','SageMakerOutput']
    [n(,n)]                elements by index; -1 is the last     $[1]  $[1,3,5]
    [start:end]            a slice; either side may be left out  $[2:5]  $[:5]  $[2:]

and names Jayway JsonPath as the reference, whose result shapes are used here: a path of single
names and single indexes (and a list of names in its last step) selects one value; any other
selects the list of what it matched. Indexes and slices may be mixed in one bracket, as in AWS's
own examples `$[0,5:]` and `$[0:2, 5:]`.

Slices include their end. This follows every worked example AWS gives, not Jayway (whose slices
stop before the end): "$[1:4] specifies the second through fifth columns", "[:5] ... the first
column (index 0) through the sixth column" (the page above), "0:2 specifies the first three
columns" (its first version, 2019). Negative bounds count from the end, as negative indexes do.

Not supported, as AWS does not list them: recursive descent (..), filters ([?()]), functions,
slice steps, and a list of names anywhere but the last step ("$.field1.['child1','child2.x']" is
AWS's own example of what is refused). An explicit index outside the array is an error, as AWS
says of OutputFilter; a slice is cut to the array.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_CHARS = 63  # the API's limit for InputFilter and OutputFilter


class JsonPathSyntaxError(ValueError):
    """The expression is not in the supported subset; the message says where and why."""


class SelectionError(ValueError):
    """The expression does not fit the record (a missing name, an index outside the array, ...)."""


@dataclass(frozen=True)
class Name:
    names: tuple[str, ...]  # one name, or several (only in the last step)


@dataclass(frozen=True)
class Wildcard:
    pass


@dataclass(frozen=True)
class Slice:
    start: int | None
    end: int | None  # inclusive


@dataclass(frozen=True)
class Indexes:
    items: tuple[int | Slice, ...]

    @property
    def single(self) -> bool:
        return len(self.items) == 1 and isinstance(self.items[0], int)


Step = Name | Wildcard | Indexes


@dataclass(frozen=True)
class JsonPath:
    text: str
    steps: tuple[Step, ...]

    @property
    def is_root(self) -> bool:
        return not self.steps

    @property
    def definite(self) -> bool:
        """True when the path selects one value rather than a list of matches."""
        for position, step in enumerate(self.steps):
            last = position == len(self.steps) - 1
            if isinstance(step, Wildcard):
                return False
            if isinstance(step, Indexes) and not step.single:
                return False
            if isinstance(step, Name) and len(step.names) > 1 and not last:
                return False
        return True

    def select(self, document: Any) -> Any:
        """What the path selects in `document`; SelectionError when it does not fit."""
        nodes = [document]
        for position, step in enumerate(self.steps):
            where = self._prefix(position)
            nodes = [match for node in nodes for match in _apply(step, node, where)]
        if self.definite:
            return nodes[0]
        return nodes

    def _prefix(self, position: int) -> str:
        return "$" + "".join(_describe(step) for step in self.steps[:position])


def parse(text: str) -> JsonPath:
    """Parse an expression of the supported subset; JsonPathSyntaxError otherwise."""
    parser = _Parser(text)
    return JsonPath(text, parser.steps())


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.position = 0

    def fail(self, why: str) -> JsonPathSyntaxError:
        return JsonPathSyntaxError(f"JSONPath {self.text!r}, at character {self.position + 1}: {why}")

    def peek(self, count: int = 1) -> str:
        return self.text[self.position : self.position + count]

    def steps(self) -> tuple[Step, ...]:
        if len(self.text) > MAX_CHARS:
            raise JsonPathSyntaxError(
                f"JSONPath {self.text[:20]!r}... is {len(self.text)} characters; the limit is {MAX_CHARS}"
            )
        if self.peek() != "$":
            raise self.fail("a path starts with $ (the root)")
        self.position = 1
        steps: list[Step] = []
        while self.position < len(self.text):
            steps.append(self.step())
        for step in steps[:-1]:
            if isinstance(step, Name) and len(step.names) > 1:
                raise JsonPathSyntaxError(
                    f"JSONPath {self.text!r}: a list of names ['a','b'] is supported only in the last step"
                )
        return tuple(steps)

    def step(self) -> Step:
        if self.peek(2) == "..":
            raise self.fail("recursive descent (..) is not supported")
        if self.peek() == ".":
            self.position += 1
            if self.peek() == "[":  # $.field1.['child1','child2'] is in AWS's examples
                return self.bracket()
            if self.peek() == "*":
                self.position += 1
                return Wildcard()
            match = re.compile(r"[A-Za-z_$][\w$-]*").match(self.text, self.position)
            if match is None:
                raise self.fail("expected a name after '.'")
            self.position = match.end()
            if self.peek() == "(":
                raise self.fail("functions are not supported")
            return Name((match.group(),))
        if self.peek() == "[":
            return self.bracket()
        raise self.fail(f"unexpected {self.peek()!r}; expected '.' or '['")

    def bracket(self) -> Step:
        self.position += 1  # [
        self.blanks()
        if self.peek() in ("?", "("):
            raise self.fail("filter and script expressions are not supported")
        if self.peek() == "*":
            self.position += 1
            step: Step = Wildcard()
        elif self.peek() in ("'", '"'):
            step = Name(tuple(self.separated(self.quoted)))
        else:
            step = Indexes(tuple(self.separated(self.index_or_slice)))
        self.blanks()
        if self.peek() != "]":
            raise self.fail("expected ']'")
        self.position += 1
        return step

    def separated(self, item: Any) -> list[Any]:
        items = [item()]
        self.blanks()
        while self.peek() == ",":
            self.position += 1
            self.blanks()
            items.append(item())
            self.blanks()
        return items

    def quoted(self) -> str:
        quote = self.peek()
        if quote not in ("'", '"'):
            raise self.fail("expected a quoted name")
        end = self.text.find(quote, self.position + 1)
        if end < 0:
            raise self.fail("unterminated name")
        name = self.text[self.position + 1 : end]
        self.position = end + 1
        return name

    def index_or_slice(self) -> int | Slice:
        start = self.integer()
        self.blanks()
        if self.peek() != ":":
            if start is None:
                raise self.fail("expected an index, a slice (start:end), '*' or a quoted name")
            return start
        self.position += 1
        self.blanks()
        end = self.integer()
        self.blanks()
        if self.peek() == ":":
            raise self.fail("slice steps (start:end:step) are not supported")
        return Slice(start, end)

    def integer(self) -> int | None:
        match = re.compile(r"-?\d+").match(self.text, self.position)
        if match is None:
            return None
        self.position = match.end()
        return int(match.group())

    def blanks(self) -> None:
        while self.peek() == " ":
            self.position += 1


def _apply(step: Step, node: Any, where: str) -> list[Any]:
    if isinstance(step, Wildcard):
        if isinstance(node, dict):
            return list(node.values())
        if isinstance(node, list):
            return list(node)
        return []  # a value has no children: a wildcard matches nothing in it
    if isinstance(step, Name):
        if not isinstance(node, dict):
            raise SelectionError(f"{where} is {_kind(node)}, not an object with {_describe(step)}")
        if len(step.names) == 1:
            name = step.names[0]
            if name not in node:
                raise SelectionError(f"{where} has no {name!r}")
            return [node[name]]
        # Several names: one object of those present (Jayway merges them; missing ones are left out).
        return [{name: node[name] for name in step.names if name in node}]
    if not isinstance(node, list):
        raise SelectionError(f"{where} is {_kind(node)}, not an array to index with {_describe(step)}")
    return [node[index] for index in _indexes(step.items, len(node), where)]


def _indexes(items: Sequence[int | Slice], size: int, where: str) -> list[int]:
    chosen: list[int] = []
    for item in items:
        if isinstance(item, int):
            index = item + size if item < 0 else item
            if not 0 <= index < size:
                raise SelectionError(f"index {item} is outside {where}, which has {size} elements")
            chosen.append(index)
            continue
        start = 0 if item.start is None else (item.start + size if item.start < 0 else item.start)
        end = size - 1 if item.end is None else (item.end + size if item.end < 0 else item.end)
        chosen.extend(range(max(start, 0), min(end, size - 1) + 1))
    return chosen


def _describe(step: Step) -> str:
    if isinstance(step, Wildcard):
        return "[*]"
    if isinstance(step, Name):
        return "[" + ",".join(repr(name) for name in step.names) + "]"
    parts = []
    for item in step.items:
        if isinstance(item, int):
            parts.append(str(item))
        else:
            parts.append(f"{'' if item.start is None else item.start}:{'' if item.end is None else item.end}")
    return "[" + ",".join(parts) + "]"


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    return "a value"
