"""``ndi`` source: receive an NDI video stream by name (or direct address) and hand it on as RGB."""

from __future__ import annotations

import logging
import time
from types import ModuleType
from typing import Any

import cv2
from pydantic import Field

from live2diff_broadcast.media.frames import Frame, now_ns
from live2diff_broadcast.plugin_api import DeviceInfo, DeviceQuery, PluginError, PluginSettings, Source

from . import ndi_runtime

logger = logging.getLogger(__name__)


class NdiSourceSettings(PluginSettings):
    source: str = Field(min_length=1, description='NDI source name: "HOST (Name)" or just "Name"')
    extra_ips: str = Field(default="", description="comma-separated IPs to query for sources (networks without mDNS)")
    url_address: str = Field(default="", description='connect straight to "IP:PORT", skipping discovery')
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120, description="give up finding/connecting after this long")
    low_bandwidth: bool = Field(default=False, description="ask the sender for its low-bandwidth preview stream")


class NdiSource(Source):
    """An NDI sender on the network; frames arrive BGRX and leave as RGB, stamped at ingest."""

    name = "ndi"
    description = "NDI receiver (settings: source, extra_ips, url_address, connect_timeout_s, low_bandwidth)"
    Settings = NdiSourceSettings
    settings: NdiSourceSettings

    def __init__(self, settings: NdiSourceSettings) -> None:
        super().__init__(settings)
        self._ndi: ModuleType | None = None
        self._receiver: Any = None
        self._seq = 0
        self._last_pts = -1
        self._fps = 30.0

    # 1. open: find the sender (or take its address), connect, wait for the connection
    def open(self) -> None:
        self._ndi = ndi_runtime.acquire("source 'ndi'")
        try:
            self._connect(self._ndi)
        except BaseException:
            self._close()  # release the runtime and receiver: a failed open leaves nothing behind
            raise

    def _connect(self, ndi: ModuleType) -> None:
        s = self.settings
        url = s.url_address or self._find_url(ndi)
        target = ndi.Source()
        target.ndi_name = s.source
        target.url_address = url
        create = ndi.RecvCreateV3()
        create.color_format = ndi.RECV_COLOR_FORMAT_BGRX_BGRA
        create.bandwidth = ndi.RECV_BANDWIDTH_LOWEST if s.low_bandwidth else ndi.RECV_BANDWIDTH_HIGHEST
        create.allow_video_fields = False
        # (audio is not requested: RecvCreateV3 has no video-only switch, so audio frames are freed in read)
        self._receiver = ndi.recv_create_v3(create)
        if self._receiver is None:
            raise PluginError("source 'ndi': could not create an NDI receiver")
        ndi.recv_connect(self._receiver, target)
        deadline = time.monotonic() + s.connect_timeout_s
        while ndi.recv_get_no_connections(self._receiver) == 0:
            if time.monotonic() > deadline:
                raise PluginError(
                    f"source 'ndi': setting 'url_address': nothing accepted a connection at {url!r} "
                    f"within connect_timeout_s={s.connect_timeout_s:g} s"
                )
            time.sleep(0.02)
        logger.info("NDI source %r connected at %s", s.source, url)

    def _find_url(self, ndi: ModuleType) -> str:
        s = self.settings
        found = ndi_runtime.find_sources(ndi, s.extra_ips, s.connect_timeout_s, wanted=s.source)
        for candidate in found:
            if ndi_runtime.matches(candidate.name, s.source):
                return candidate.url_address
        hint = "" if s.extra_ips else "; without mDNS set extra_ips to the sender's IP, or url_address"
        raise PluginError(
            f"source 'ndi': setting 'source': no NDI source named {s.source!r} appeared within "
            f"connect_timeout_s={s.connect_timeout_s:g} s (visible: {[f.name for f in found]}){hint}"
        )

    # 2. read: capture with the caller's timeout; skip non-video frames
    def read(self, timeout: float) -> Frame | None:
        ndi = self._ndi
        if ndi is None or self._receiver is None:
            raise PluginError("source 'ndi': read() called before open()")
        deadline = time.monotonic() + timeout
        while True:
            remaining_ms = int(max(0.0, deadline - time.monotonic()) * 1000)
            kind, video, _audio, _meta = ndi.recv_capture_v2(self._receiver, remaining_ms)
            if kind == ndi.FRAME_TYPE_VIDEO:
                pts = max(now_ns(), self._last_pts + 1)
                try:
                    rgb = cv2.cvtColor(video.data, cv2.COLOR_BGRA2RGB)  # (H, W, 4) BGRX -> (H, W, 3) RGB copy
                    if video.frame_rate_D:
                        self._fps = video.frame_rate_N / video.frame_rate_D
                finally:
                    ndi.recv_free_video_v2(self._receiver, video)
                self._last_pts = pts
                frame = Frame(rgb, pts_ns=pts, seq=self._seq)
                self._seq += 1
                return frame
            if kind == ndi.FRAME_TYPE_AUDIO:
                ndi.recv_free_audio_v2(self._receiver, _audio)
            elif kind == ndi.FRAME_TYPE_METADATA:
                ndi.recv_free_metadata(self._receiver, _meta)
            if remaining_ms == 0:
                return None

    @property
    def fps(self) -> float:
        return self._fps

    def _close(self) -> None:
        if self._ndi is not None:
            if self._receiver is not None:
                self._ndi.recv_destroy(self._receiver)
                self._receiver = None
            ndi_runtime.release()
            self._ndi = None

    @classmethod
    def list_devices(cls, query: DeviceQuery) -> list[DeviceInfo]:
        ndi = ndi_runtime.acquire("source 'ndi'")
        try:
            found = ndi_runtime.find_sources(ndi, query.extra_ips, query.timeout_s)
        finally:
            ndi_runtime.release()
        settings_extra = {"extra_ips": query.extra_ips} if query.extra_ips else {}
        return [DeviceInfo(f.name, {"source": f.name, **settings_extra}, detail=f.url_address) for f in found]
