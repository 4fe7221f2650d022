"""diffusers' "should be kept in float32: []" false alarm is gone from engine starts; a real list still warns."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import torch

from live2diff_broadcast.engine.components import tiny_components
from live2diff_broadcast.engine.diffusers_log import MODELING_LOGGER, no_empty_fp32_warning


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def diffusers_warnings_on() -> Iterator[None]:
    """tests/conftest.py quiets diffusers to ERROR; here its warnings are what is tested."""
    logger = logging.getLogger(MODELING_LOGGER)
    before = logger.level
    logger.setLevel(logging.WARNING)
    yield
    logger.setLevel(before)


def test_building_and_casting_the_tiny_models_logs_no_float32_warning() -> None:
    collect = _Collect()
    logger = logging.getLogger(MODELING_LOGGER)
    logger.addHandler(collect)
    try:
        components = tiny_components()  # UNetMotionModel.from_unet2d casts inside diffusers
        components.to("cpu", torch.float32)  # and the engine casts every model
        with no_empty_fp32_warning():
            pass
        components.vae.to(dtype=torch.float32)  # outside our casts diffusers still says it: the filter is scoped
    finally:
        logger.removeHandler(collect)
    float32 = [m for m in collect.messages if "should be kept in float32" in m]
    assert len(float32) == 1, collect.messages  # only the unfiltered cast at the end


def test_a_model_that_lists_modules_to_keep_still_warns() -> None:
    collect = _Collect()
    logger = logging.getLogger(MODELING_LOGGER)
    logger.addHandler(collect)
    try:
        with no_empty_fp32_warning():
            logger.warning("There are modules in X that should be kept in float32: ['norm']. Casting directly ...")
            logger.warning("There are modules in X that should be kept in float32: []. Casting directly ...")
    finally:
        logger.removeHandler(collect)
    assert [m for m in collect.messages if "float32" in m] == [
        "There are modules in X that should be kept in float32: ['norm']. Casting directly ..."]
