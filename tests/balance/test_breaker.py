"""The per-replica circuit breaker: closed → open after N faults in a window → half-open probe."""

from __future__ import annotations

from router.balance.breaker import Breaker
from router.clock import FakeClock
from router.domain import ReplicaState

CFG = dict(failures=3, window_s=10.0, open_s=5.0)


def test_opens_after_n_faults_within_the_window_only() -> None:
    clock = FakeClock()
    b = Breaker(clock)
    for _ in range(2):
        b.fault("connect", **CFG)
        clock.advance(6)  # spread thinner than the window: never three within 10 s
    b.fault("connect", **CFG)
    assert b.state == "closed" and b.admits()
    b.fault("connect", **CFG)
    b.fault("connect", **CFG)
    assert b.state == "open" and not b.admits() and b.opens == 1


def test_one_fault_does_not_take_a_replica_out() -> None:
    st = ReplicaState(breaker=Breaker(FakeClock()))
    st.breaker.fault("connection refused", **CFG)
    assert st.healthy  # the old behaviour marked it unhealthy at once


def test_half_open_lets_one_probe_through_and_its_verdict_decides() -> None:
    clock = FakeClock()
    b = Breaker(clock)
    for _ in range(3):
        b.fault("500", **CFG)
    clock.advance(4.9)
    assert not b.admits()
    clock.advance(0.2)
    assert b.admits() and b.state == "half_open"
    b.picked("r1")
    assert not b.admits()  # one probe at a time
    b.fault("500 again", **CFG)  # the probe failed: open for another open_s
    assert b.state == "open" and not b.admits() and b.opens == 2
    clock.advance(5.1)
    assert b.admits()
    b.picked("r2")
    b.released("r2")  # ended without a verdict (a client error, a hang-up): the next request probes
    assert b.admits()
    b.picked("r3")
    b.success()
    b.released("r3")
    assert b.state == "closed" and b.admits()


def test_late_news_does_not_flip_an_open_breaker() -> None:
    clock = FakeClock()
    b = Breaker(clock)
    for _ in range(3):
        b.fault("x", **CFG)
    b.success()  # a request picked before it opened finished well
    assert b.state == "open"
    b.fault("y", **CFG)  # and another one failed late
    clock.advance(5.1)
    assert b.admits() and b.opens == 1
