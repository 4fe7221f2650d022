"""ControlBus: typed actions in order, bounded (oldest dropped, told so), events to listeners."""

from __future__ import annotations

import threading

from live2diff_broadcast.control import ActionResult, ControlBus, NextStyle, SelectStyle, StyleApplied
from live2diff_broadcast.media.frames import now_ns


def test_actions_come_out_in_order_with_their_press_time() -> None:
    bus = ControlBus()
    before = now_ns()
    bus.post(SelectStyle("anime", origin="hotkey"))
    bus.post(NextStyle())
    taken = bus.take()
    assert [type(a) for a, _ in taken] == [SelectStyle, NextStyle]
    assert taken[0][0].origin == "hotkey" and before <= taken[0][0].at_ns <= now_ns()
    assert bus.take() == []


def test_full_bus_drops_the_oldest_and_answers_it() -> None:
    bus = ControlBus(capacity=2)
    first = bus.post(SelectStyle("a"))
    bus.post(SelectStyle("b"))
    bus.post(SelectStyle("c"))
    assert first.result(timeout=1) == ActionResult(False, "dropped: control queue full")
    assert [a.name for a, _ in bus.take()] == ["b", "c"]  # type: ignore[union-attr]
    assert bus.dropped == 1


def test_many_threads_post_safely_and_wait_wakes_up() -> None:
    bus = ControlBus(capacity=1000)
    threads = [threading.Thread(target=lambda: [bus.post(NextStyle()) for _ in range(100)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bus.wait(0.1)
    assert len(bus.take()) == 400
    assert not bus.wait(0.01)


def test_listeners_get_events_and_a_broken_one_breaks_nothing() -> None:
    bus = ControlBus()
    got: list[object] = []

    def broken(event: object) -> None:
        raise RuntimeError("listener bug (test)")

    bus.subscribe(broken)
    unsubscribe = bus.subscribe(got.append)
    event = StyleApplied("anime", 12.5, "hotkey")
    bus.publish(event)
    unsubscribe()
    bus.publish(event)
    assert got == [event]


def test_cancel_all_answers_every_waiting_action() -> None:
    bus = ControlBus()
    futures = [bus.post(NextStyle()) for _ in range(3)]
    bus.cancel_all("shutting down")
    assert all(f.result(timeout=1).message == "shutting down" for f in futures)
