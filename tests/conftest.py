"""Shared fixtures: tiny random-weight components, built once per test session."""

from __future__ import annotations

import copy
import logging

import pytest
import torch

from live2diff_broadcast.engine.components import Live2DiffComponents, tiny_components
from tests.devices import test_device

logging.getLogger("diffusers").setLevel(logging.ERROR)
logging.getLogger("transformers").setLevel(logging.ERROR)


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
