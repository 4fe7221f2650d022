"""``ndi`` sink: publish frames as an NDI source (BGRX) that OBS (DistroAV), vMix or Resolume can receive."""

from __future__ import annotations

import logging
from fractions import Fraction
from types import ModuleType
from typing import Any

import cv2
import numpy as np
from pydantic import Field

from live2diff_broadcast.media.frames import Frame
from live2diff_broadcast.plugin_api import PluginError, Sink

from . import ndi_runtime
from ._sizing import SinkSizeSettings, fit, output_size

logger = logging.getLogger(__name__)


class NdiSinkSettings(SinkSizeSettings):
    name: str = Field(default="Live2Diff", min_length=1, description="NDI source name others will see")
    groups: str = Field(default="", description="comma-separated NDI groups (empty: the default group)")
    fps: float | None = Field(default=None, gt=0, le=240, description="advertised frame rate (default: open()'s)")
    clock_video: bool = Field(default=False, description="let NDI pace sends at fps (blocks write; off for live pipelines)")


def frame_rate_fraction(fps: float) -> tuple[int, int]:
    """(N, D) for NDI: 29.97 -> (30000, 1001), 30 -> (30, 1)."""
    rate = Fraction(fps).limit_denominator(1001)
    return rate.numerator, rate.denominator


class NdiSink(Sink):
    """An NDI sender named ``name``; frames are scaled to the sink's size and sent as BGRX."""

    name = "ndi"
    description = "NDI sender (settings: name, width, height, fps, groups, clock_video)"
    Settings = NdiSinkSettings
    settings: NdiSinkSettings

    def __init__(self, settings: NdiSinkSettings) -> None:
        super().__init__(settings)
        self._ndi: ModuleType | None = None
        self._sender: Any = None
        self._video: Any = None
        self._size = (0, 0)

    def open(self, width: int, height: int, fps: float) -> None:
        s = self.settings
        ndi = self._ndi = ndi_runtime.acquire("sink 'ndi'")
        create = ndi.SendCreate()
        create.ndi_name = s.name
        if s.groups:
            create.groups = s.groups
        create.clock_video = s.clock_video
        create.clock_audio = False
        self._sender = ndi.send_create(create)
        if self._sender is None:
            self._close()
            raise PluginError(f"sink 'ndi': setting 'name': could not create an NDI sender named {s.name!r}")
        self._size = output_size(s, width, height)
        self._video = ndi.VideoFrameV2()
        self._video.FourCC = ndi.FOURCC_VIDEO_TYPE_BGRX
        self._video.frame_rate_N, self._video.frame_rate_D = frame_rate_fraction(s.fps or fps)
        self._bgrx = np.empty((self._size[1], self._size[0], 4), np.uint8)  # (H, W, 4), reused every frame
        logger.info("NDI sink %r sending %dx%d at %.3f fps", s.name, *self._size, s.fps or fps)

    def write(self, frame: Frame) -> None:
        if self._ndi is None or self._sender is None:
            raise PluginError("sink 'ndi': write() called before open()")
        cv2.cvtColor(fit(frame.image, *self._size), cv2.COLOR_RGB2BGRA, dst=self._bgrx)  # alpha = 255
        self._video.data = self._bgrx
        self._video.timecode = frame.pts_ns // 100  # NDI timecodes count 100 ns: the capture time travels on
        self._ndi.send_send_video_v2(self._sender, self._video)  # synchronous: the buffer is free on return

    def _close(self) -> None:
        if self._ndi is not None:
            if self._sender is not None:
                self._ndi.send_destroy(self._sender)
                self._sender = None
            ndi_runtime.release()
            self._ndi = None
