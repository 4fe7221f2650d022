"""Fixtures that start a real, headless OBS Studio (tests/obs/harness.py).

Without OBS or Xvfb the tests skip with the reason locally; in CI (CI=true) they FAIL instead,
since CI installs both (scripts/setup_system.sh) and a skip would hide a broken install.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .harness import free_port, missing_programs, obs_studio, xvfb

obs = pytest.importorskip("obsws_python")
logging.getLogger("obsws_python").setLevel(logging.CRITICAL)  # it logs the password and a traceback per refusal


@dataclass
class RunningObs:
    port: int
    password: str
    tmp: Path

    def client(self) -> obs.ReqClient:
        return obs.ReqClient(host="127.0.0.1", port=self.port, password=self.password, timeout=10)


def _require_obs() -> None:
    missing = missing_programs()
    if missing:
        reason = f"{', '.join(missing)} not installed (bash scripts/setup_system.sh installs OBS and Xvfb)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the OBS tests: {reason}")
        pytest.skip(reason)


def _start(tmp: Path, password: str) -> Iterator[RunningObs]:
    _require_obs()
    port = free_port()
    with xvfb(tmp) as display, obs_studio(tmp, display, port, password):
        yield RunningObs(port, password, tmp)


@pytest.fixture(scope="module")
def real_obs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObs]:
    """OBS with websocket authentication off."""
    yield from _start(tmp_path_factory.mktemp("obs"), "")


@pytest.fixture(scope="module")
def real_obs_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningObs]:
    """OBS whose websocket requires the password "s3cret-test"."""
    yield from _start(tmp_path_factory.mktemp("obs-auth"), "s3cret-test")
