"""A stop request interrupts the engine's work in progress: at the next torch module call, or by exiting."""

from __future__ import annotations

import multiprocessing
import threading
import time

import pytest
import torch

from live2diff_broadcast.runtime.engine_stop import EngineStopping, StopWatch

CTX = multiprocessing.get_context("spawn")


def test_a_long_forward_loop_on_the_main_thread_is_interrupted_at_its_next_module_call() -> None:
    requested, finished = threading.Event(), threading.Event()
    watch = StopWatch(requested, finished, grace_s=600)  # the interrupt, never the exit, ends this one
    watch.start()
    layer = torch.nn.Linear(8, 8)
    calls = 0
    try:
        with pytest.raises(EngineStopping, match="Linear.forward"):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # "a frame" that would run for two minutes
                layer(torch.ones(1, 8))
                calls += 1
                if calls == 3:
                    requested.set()
    finally:
        finished.set()
        watch.close()
    assert calls >= 3
    layer(torch.ones(1, 8))  # the hook is gone again: module calls work as before


def test_module_calls_on_other_threads_are_left_alone() -> None:
    requested, finished = threading.Event(), threading.Event()
    watch = StopWatch(requested, finished, grace_s=600)
    watch.start()
    requested.set()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            deadline = time.monotonic() + 60
            while watch._hook is None and time.monotonic() < deadline:
                time.sleep(0.01)
            torch.nn.Linear(4, 4)(torch.ones(1, 4))  # a style loading in the background, say
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(90)
    finished.set()
    watch.close()
    assert watch._hook is None and errors == []


def _busy_without_modules(requested: threading.Event) -> None:  # the child: a long load, no module runs
    finished = threading.Event()
    StopWatch(requested, finished, grace_s=0.5).start()
    time.sleep(600)
    raise SystemExit(3)  # never reached: the watch ends the process first


def test_work_outside_torch_modules_ends_by_exiting_after_the_grace() -> None:
    requested = CTX.Event()
    child = CTX.Process(target=_busy_without_modules, args=(requested,), daemon=True)
    child.start()
    try:
        requested.set()
        child.join(120)  # bounded: without the watch the child would sleep 600 s
        assert child.exitcode == 0, f"exit code {child.exitcode}"
    finally:
        if child.is_alive():
            child.kill()
            child.join(10)
