"""Round-robin over healthy instances, health marks, blue/green replacement (no I/O)."""

from __future__ import annotations

from deploy.local.pool import Instance, Pool


def make(*ids: str, healthy: bool = True) -> Pool:
    return Pool.of(
        Instance(id=i, url=f"http://127.0.0.1:{n}", healthy=healthy) for n, i in enumerate(ids, 9000)
    )


def test_round_robin_spreads_requests_evenly() -> None:
    pool = make("a", "b", "c")
    picks = [pool.pick().id for _ in range(6)]
    assert picks == ["a", "b", "c", "a", "b", "c"]


def test_unhealthy_instances_are_skipped_and_come_back() -> None:
    pool = make("a", "b")
    assert pool.mark("a", False, "refused", fatal=True)
    assert {pool.pick().id for _ in range(4)} == {"b"}
    assert pool.mark("a", True)
    assert {pool.pick().id for _ in range(4)} == {"a", "b"}


def test_a_slow_ping_takes_two_failures_a_refused_connection_one() -> None:
    pool = make("a")
    assert not pool.mark("a", False, "timeout", fatal=False)
    assert pool.healthy()
    assert pool.mark("a", False, "timeout", fatal=False)
    assert not pool.healthy()
    pool.mark("a", True)
    assert pool.mark("a", False, "refused", fatal=True)


def test_exclude_gives_another_instance_for_the_retry() -> None:
    pool = make("a", "b")
    first = pool.pick()
    second = pool.pick(exclude=[first.id])
    assert second is not None and second.id != first.id
    assert make("a").pick(exclude=["a"]) is None


def test_no_healthy_instance() -> None:
    assert make("a", "b", healthy=False).pick() is None
    assert Pool().pick() is None


def test_replace_retires_the_old_instances_until_forgotten() -> None:
    pool = make("a", "b")
    old_a = pool.find("a")
    old_a.in_flight = 2
    retired = pool.replace([Instance(id="c", url="http://127.0.0.1:9100", healthy=True)])
    assert [i.id for i in retired] == ["a", "b"]
    assert {pool.pick().id for _ in range(3)} == {"c"}
    assert pool.draining(retired) == 2
    assert pool.find("a") is old_a  # still health-checked while it drains
    pool.forget(retired)
    assert pool.find("a") is None
    assert [i.id for i in pool.all()] == ["c"]


def test_mark_of_an_unknown_instance_is_ignored() -> None:
    assert not make("a").mark("zzz", False)
