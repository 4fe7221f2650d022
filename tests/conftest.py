"""Shared fixtures: one intra-op thread everywhere, and tiny random-weight components built once per session.

One thread: the CI machine's 2 cores are shared, and tiny models run ~50x slower with spinning
OpenMP threads under load (a subset of the suite took 47 minutes unpinned, 8-12 pinned). The
environment is set here, before torch is imported, so every child process (engine processes,
``run`` subprocesses) starts pinned too; the autouse fixture pins the test process itself.
Benchmarks (scripts/) choose their own ``--threads``.
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import copy  # noqa: E402
import logging  # noqa: E402
from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from live2diff_broadcast.engine.components import Live2DiffComponents, tiny_components
from tests.devices import test_device

logging.getLogger("diffusers").setLevel(logging.ERROR)
logging.getLogger("transformers").setLevel(logging.ERROR)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Every test runs torch on one intra-op thread (restored after, for tests that set their own)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def _tiny_master() -> Live2DiffComponents:
    return tiny_components(seed=0)


@pytest.fixture
def tiny(_tiny_master: Live2DiffComponents) -> Live2DiffComponents:
    """A fresh deep copy of the tiny components (streams install processors on their UNet)."""
    return copy.deepcopy(_tiny_master)


@pytest.fixture
def tiny64(_tiny_master: Live2DiffComponents) -> Live2DiffComponents:
    """Tiny components in float64, for exactness tests (on LIVE2DIFF_TEST_DEVICE, default cpu)."""
    return copy.deepcopy(_tiny_master).to(test_device(), torch.float64)
