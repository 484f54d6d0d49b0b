"""Batching for a predict_fn that never said whether it may batch: only once it has shown it answers alike.

A module that declares `batchable` (True or False, in BYOC_HANDLER_OPTIONS or its HandlerSpec) is
taken at its word. One that says nothing, like most inference.py files written for AWS's toolkits,
is checked: its first batches are predicted both ways, stacked and one request at a time, and every
request gets the answer it gets alone (so nothing a client sees changes while it is checked).
Batching starts once NEEDED_AGREEMENTS batches have agreed bit for bit (sameness.py: the predictions
and the encoded answers) and turns off for good, with a log line saying why, at the first difference
or at a prediction that cannot be cut per request.

What a check can and cannot show: it compares real requests, so code that treats the batch as a
whole (normalising over its rows, ranking them), random or stateful code, and BLAS kernels that sum
a row differently depending on how many rows they are given all show up as differences at once. A
batch whose requests are all alike (the same rows over and over) shows nothing of that and is not
counted. Code that only differs for some inputs or batch sizes the checks never met could pass; so,
once on, a batch of a size (in rows) outside the range checked so far has its first and last
requests predicted alone beside it (where a kernel's handling of the batch's edges would show), and
one request in every SAMPLE_EVERY batches is still predicted alone beside its batch. Should any of
those differ, batching stops for good and that batch's requests all get their answers alone.

Requests of one row and requests of several are checked, and batched, apart: numerical libraries
often take another path for a single row (NumPy multiplies a 1-row matrix with a vector kernel, so
that row's sums are rounded differently than in any matrix of two rows or more), while a request of
several rows is computed as a matrix alone as well as in a batch.

Side effects: while checking, predict_fn and output_fn run twice on a checked request's rows (once
in the batch, once alone): at most MAX_CHECKS batches per kind of request and worker, two requests of
each batch of a new size once on (MAX_RANGE_CHECKS such batches at most), and one request in every
SAMPLE_EVERY batches after that.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

NEEDED_AGREEMENTS = 8  # batches of differing requests that agreed, before batching starts
NEEDED_SIZES = 2  # distinct batch sizes (in rows) among them
MAX_CHECKS = 64  # batches checked in full before giving up on starting
MAX_RANGE_CHECKS = 64  # batches of a new size checked once on; beyond, such batches go alone
SAMPLE_EVERY = 64  # once on, one request of every this many batches is also predicted alone
MAX_UNSTACKABLE = 64  # inputs in a row that cannot be stacked, before batching is off for good


class Shape(enum.Enum):
    """Kinds of request, checked and batched apart (see the module's docstring)."""

    SINGLE = "single-row"
    MULTI = "multi-row"

    @classmethod
    def of(cls, rows: int) -> Shape:
        return cls.SINGLE if rows == 1 else cls.MULTI


class State(enum.Enum):
    CHECKING = "checking"
    ON = "on"
    OFF = "off"


class Check(enum.Enum):
    """What to do with one batch."""

    ALONE = "alone"  # predict each request alone, no batch call
    FULL = "full"  # both ways for every request; each gets its answer alone
    EDGES = "edges"  # a size not checked yet: batched, and the first and last requests also alone
    ONE = "one"  # batched, and one request also alone
    NONE = "none"  # batched


@dataclass
class _Track:
    """The checks of one kind of request."""

    state: State = State.CHECKING
    agreements: int = 0
    checks: int = 0
    sizes: set[int] = field(default_factory=set)  # rows of the batches that agreed
    low: int = 0  # rows: the smallest and largest batch checked in full and agreeing
    high: int = 0
    range_checks: int = 0
    batches: int = 0  # batched since on
    reason: str = ""


class BatchChecker:
    """Which batches of one predict_fn to check, and what the checks found, per kind of request.

    Used from the worker's model thread; the event loop only reads `batches(shape)`, whose answer may
    be one batch late, which costs nothing but a request decoded on the loop and predicted alone.
    """

    def __init__(self, name: str) -> None:
        self.name = name  # the predict_fn's module, for the log lines
        self._tracks = {shape: _Track() for shape in Shape}
        self._unstackable = 0  # inputs in a row that could not be stacked

    def state(self, shape: Shape) -> State:
        return self._tracks[shape].state

    def reason(self, shape: Shape) -> str:
        return self._tracks[shape].reason

    def batches(self, shape: Shape) -> bool:
        """May requests of this kind still share a predict_fn call (now or once checked)?"""
        return self._tracks[shape].state is not State.OFF

    @property
    def all_off(self) -> bool:
        return all(track.state is State.OFF for track in self._tracks.values())

    def plan(self, shape: Shape, rows: int, alike: Callable[[], bool]) -> Check:
        """How to predict a batch of `rows` rows; `alike()` says whether its requests are all the same."""
        track = self._tracks[shape]
        if track.state is State.OFF:
            return Check.ALONE
        if track.state is State.CHECKING:
            # A batch of identical requests cannot show a predict_fn that mixes rows: not worth a
            # check, nor a batch call that has not been shown to be safe.
            return Check.ALONE if alike() else Check.FULL
        if not track.low <= rows <= track.high:
            if track.range_checks >= MAX_RANGE_CHECKS:
                return Check.ALONE
            track.range_checks += 1
            return Check.EDGES
        track.batches += 1
        return Check.ONE if track.batches % SAMPLE_EVERY == 0 else Check.NONE

    def checked(self, shape: Shape, rows: int) -> bool:
        """Is batching on for this kind of request, and a batch of `rows` rows of a size checked?"""
        track = self._tracks[shape]
        return track.state is State.ON and track.low <= rows <= track.high

    def sampled(self, shape: Shape, check: Check, count: int) -> list[int]:
        """Which requests of a batch of `count` to predict alone beside it (Check.EDGES or ONE)."""
        if check is Check.EDGES:
            return [0, count - 1]
        return [(self._tracks[shape].batches // SAMPLE_EVERY) % count]  # each in turn

    def agreed(self, shape: Shape, requests: int, rows: int) -> None:
        """A checked batch answered the requests checked as alone (all of them while checking)."""
        track = self._tracks[shape]
        track.low = min(track.low, rows) if track.sizes else rows
        track.high = max(track.high, rows)
        track.sizes.add(rows)
        if track.state is not State.CHECKING:
            return
        track.checks += 1
        track.agreements += 1
        if track.agreements >= NEEDED_AGREEMENTS and len(track.sizes) >= NEEDED_SIZES:
            track.state = State.ON
            log.info(
                "batching on for %s requests to %s.predict_fn: %d batches of %d to %d rows answered "
                "each request exactly as alone",
                shape.value,
                self.name,
                track.agreements,
                track.low,
                track.high,
            )
        elif track.checks >= MAX_CHECKS:
            self._off(
                track,
                shape,
                f"{track.checks} batches checked, but only {len(track.sizes)} size(s) of batch among them",
            )

    def inconclusive(self, shape: Shape) -> None:
        """A checked batch showed nothing either way (a request failed alone and in the batch)."""
        track = self._tracks[shape]
        if track.state is State.CHECKING:
            track.checks += 1
            if track.checks >= MAX_CHECKS:
                self._off(track, shape, f"{track.checks} batches checked without enough of them agreeing")

    def saw_input(self, stackable: bool, kind: str) -> None:
        """A request's decoded input (a `kind`) could or could not be stacked with others.

        An input_fn that returns what never stacks (a tensor, a DataFrame, a list) has nothing to be
        checked, and each of its requests would pay for a decode apart from its prediction: after
        MAX_UNSTACKABLE such inputs in a row, batching is off for good. (Fewer, among stackable ones,
        are a client's odd request, which is predicted alone.)
        """
        if stackable:
            self._unstackable = 0
            return
        self._unstackable += 1
        if self._unstackable == MAX_UNSTACKABLE:
            reason = f"{MAX_UNSTACKABLE} inputs in a row were a {kind}, which is not stacked"
            for shape, track in self._tracks.items():
                self._off(track, shape, reason)

    def differed(self, shape: Shape, reason: str) -> None:
        """A request's answer in a batch was not its answer alone: batching off for good."""
        self._off(self._tracks[shape], shape, reason)

    def _off(self, track: _Track, shape: Shape, reason: str) -> None:
        if track.state is State.OFF:
            return
        track.state = State.OFF
        track.reason = reason
        log.warning(
            "batching off for good for %s requests to %s.predict_fn: %s. Each request is predicted "
            "alone; if predict_fn answers every row as it would alone, declare it with "
            'BYOC_HANDLER_OPTIONS = {"batchable": True} (or False to skip this check)',
            shape.value,
            self.name,
            reason,
        )
