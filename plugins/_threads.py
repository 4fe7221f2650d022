"""Run a blocking device call with a deadline, so a stuck driver can never hang the caller."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class CallTimedOut(TimeoutError):
    """The call did not return in time; it keeps running in an abandoned daemon thread."""


def call_with_timeout(fn: Callable[[], T], timeout: float, name: str) -> T:
    """``fn()`` in a daemon thread; its result or exception, or CallTimedOut after ``timeout`` s."""
    outcome: dict[str, object] = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller below
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=name, daemon=True).start()
    if not done.wait(timeout):
        raise CallTimedOut(f"{name} did not return within {timeout:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]
