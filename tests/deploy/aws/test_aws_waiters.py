"""What an endpoint's state means while a command waits, and the progress it shows (no AWS)."""

from __future__ import annotations

import io

import pytest

from deploy.aws import waiters
from deploy.aws.output import Progress


def test_create_outcomes() -> None:
    assert waiters.interpret_create({"EndpointStatus": "Creating"}) == waiters.Outcome(
        False, False, "Creating"
    )
    assert waiters.interpret_create({"EndpointStatus": "InService"}).ok
    failed = waiters.interpret_create({"EndpointStatus": "Failed", "FailureReason": "ping failed"})
    assert failed.done and not failed.ok and "ping failed" in failed.message
    assert not waiters.interpret_create(None).ok


def test_update_success_means_in_service_on_the_new_config() -> None:
    def outcome(status: str, config: str, reason: str = "") -> waiters.Outcome:
        describe = {"EndpointStatus": status, "EndpointConfigName": config, "FailureReason": reason}
        return waiters.interpret_update(describe, "new", "old")

    assert not outcome("Updating", "old").done
    assert not outcome("SystemUpdating", "old").done
    assert outcome("InService", "new").ok
    rolled_back = outcome("InService", "old", "alarm high-5xx fired")
    assert rolled_back.done and not rolled_back.ok
    assert rolled_back.status == "RolledBack" and "alarm high-5xx fired" in rolled_back.message
    failed = outcome("Failed", "new", "no space")
    assert failed.done and not failed.ok and "no space" in failed.message
    assert not outcome("InService", "third").ok
    assert not waiters.interpret_update(None, "new", "old").ok


def test_wait_is_bounded_and_reports_progress() -> None:
    clock = iter(range(1000))
    states = iter(["Creating", "Creating", "InService"])
    stream = io.StringIO()
    outcome = waiters.wait(
        lambda: {"EndpointStatus": next(states)},
        waiters.interpret_create,
        Progress("endpoint ep", stream, report_every=30),
        timeout=100,
        interval=1,
        clock=lambda: float(next(clock)),
        sleep=lambda _s: None,
    )
    assert outcome.ok
    # not a terminal: one line per status change, then the end
    assert stream.getvalue().splitlines() == ["endpoint ep: Creating (1s)", "endpoint ep: InService after 3s"]

    with pytest.raises(waiters.WaitTimeout, match="still Creating"):
        waiters.wait(
            lambda: {"EndpointStatus": "Creating"},
            waiters.interpret_create,
            Progress("endpoint ep", io.StringIO()),
            timeout=5,
            interval=1,
            clock=lambda: float(next(clock)),
            sleep=lambda _s: None,
        )


def test_progress_on_a_terminal_rewrites_one_line() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    progress = Progress("endpoint ep", stream)
    progress.update("Updating", 1)
    progress.update("Updating", 75)
    progress.finish("InService", 80)
    text = stream.getvalue()
    assert text.count("\n") == 1
    assert "\rendpoint ep: Updating (1m15s)" in text
    assert text.endswith("endpoint ep: InService after 1m20s\n")


def test_periodic_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress("x", stream, report_every=30)
    for second in range(0, 70, 5):
        progress.update("Updating", second)
    assert len(stream.getvalue().splitlines()) == 3  # at 0, 30 and 60 s
