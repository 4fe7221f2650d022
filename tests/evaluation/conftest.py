from __future__ import annotations

import pytest
from transformers import CLIPVisionModelWithProjection

from live2diff_broadcast.evaluation.temporal_clip import tiny_clip_vision


@pytest.fixture(scope="session")
def tiny_clip() -> CLIPVisionModelWithProjection:
    return tiny_clip_vision()
