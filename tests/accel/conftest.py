"""One intra-op thread for the accel tests: the CI machine's 2 shared cores oversubscribe badly
(tiny models run ~50x slower with 2 spinning OpenMP threads under load)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
