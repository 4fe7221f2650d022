"""The ring doorbell: rings wake a waiter in another process; no name is ever created in /dev/shm."""

from __future__ import annotations

import multiprocessing
import os
import time

from live2diff_broadcast.runtime.doorbell import Doorbell


def _ring_later(bell: Doorbell) -> None:
    time.sleep(0.2)
    bell.ring()


def _shm_mappings() -> set[str]:
    return {line.split(maxsplit=5)[-1] for line in open(f"/proc/{os.getpid()}/maps") if "/dev/shm/" in line}


def test_ring_wakes_a_waiter_across_spawn_and_never_blocks() -> None:
    before = _shm_mappings()  # other parts of this test process (tqdm's lock) may hold semaphores
    ctx = multiprocessing.get_context("spawn")
    bell = Doorbell(ctx)
    assert not bell.wait(0.05)
    for _ in range(100_000):  # far more than a pipe holds: never blocks
        bell.ring()
    assert bell.wait(0.0) and not bell.wait(0.0)  # one wait consumes every ring so far
    child = ctx.Process(target=_ring_later, args=(bell,))
    child.start()
    assert bell.wait(30.0)
    child.join(30)
    assert _shm_mappings() <= before  # the doorbell mapped no named semaphore
    bell.close()
