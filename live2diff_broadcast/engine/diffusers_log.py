"""diffusers' "should be kept in float32: []" false alarm, filtered where it is raised.

``ModelMixin.to`` (diffusers 0.42) warns "There are modules in UNetMotionModel that should be
kept in float32: []. Casting directly with `to()` can lead to inconsistent results ..." on every
cast with a dtype, even when the list of modules to keep is empty: nothing is inconsistent and
nothing is asked of the user, yet it printed twice per engine start (``UNetMotionModel.from_unet2d``
casts inside diffusers; our own cast to the engine's dtype). ``no_empty_fp32_warning`` drops
exactly that message with an empty list while the cast runs; a model that does list modules
still warns.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

MODELING_LOGGER = "diffusers.models.modeling_utils"


class EmptyFp32ListFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "should be kept in float32: []" not in message


@contextmanager
def no_empty_fp32_warning() -> Iterator[None]:
    """While inside: diffusers' float32 warning with an empty module list is not logged."""
    logger = logging.getLogger(MODELING_LOGGER)
    quiet = EmptyFp32ListFilter()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
