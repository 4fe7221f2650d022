"""The dock's live picture: small JPEGs of the newest frame, encoded only while a dock watches, behind the token."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
import websockets

from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.preview import PreviewFeeds, PreviewTap
from live2diff_broadcast.control.server import ControlServer

from .consumer import Consumer


@pytest.fixture(autouse=True)
def private_token_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))


def picture(i: int, h: int = 540, w: int = 960) -> np.ndarray:
    """A frame whose left half is red and whose right half brightens with ``i``."""
    image = np.zeros((h, w, 3), np.uint8)
    image[:, : w // 2, 0] = 255
    image[:, w // 2 :] = (i * 20) % 256
    return image


def decode(jpeg: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def test_frames_are_scaled_encoded_once_per_new_frame_and_look_like_the_frame() -> None:
    tap = PreviewTap()
    feeds = PreviewFeeds({"output": tap.latest}, max_side=320)
    assert feeds.encode("output") is None  # nothing written yet
    tap.offer(picture(3))
    first = feeds.encode("output")
    assert first is not None and (first.width, first.height) == (320, 180) and feeds.encoded == 1
    assert feeds.encode("output") is first and feeds.encoded == 1  # the same frame: no second encode
    image = decode(first.jpeg)
    assert image.shape == (180, 320, 3)
    assert abs(int(image[90, 40, 0]) - 255) < 12 and int(image[90, 40, 1]) < 12  # red half stays red
    assert abs(int(image[90, 280, 1]) - 60) < 12  # the right half's grey
    tap.offer(picture(4))
    second = feeds.encode("output")
    assert second is not None and second.seq == first.seq + 1 and feeds.encoded == 2
    with pytest.raises(ValueError, match="unknown preview feed"):
        PreviewFeeds({"sideways": tap.latest})


class Feeder:
    """Writes a new frame into the tap 30 times a second, like the output stage."""

    def __init__(self, tap: PreviewTap) -> None:
        self.tap, self.stop, self.count = tap, threading.Event(), 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.wait(1 / 30):
            self.count += 1
            self.tap.offer(picture(self.count, 144, 256))


@pytest.fixture
def show() -> Iterator[tuple[ControlServer, PreviewFeeds]]:
    bus, tap = ControlBus(), PreviewTap()
    consumer = Consumer(bus)
    feeds = PreviewFeeds({"output": tap.latest, "input": tap.latest})
    srv = ControlServer(bus, consumer.live_status, port=0, preview=feeds)
    srv.start()
    feeder = Feeder(tap)
    yield srv, feeds
    feeder.stop.set()
    feeder.thread.join(5)
    srv.stop()
    consumer.stop()


def test_the_picture_needs_the_token_like_a_command(show: tuple[ControlServer, PreviewFeeds]) -> None:
    srv, _ = show
    with httpx.Client(base_url=srv.url, trust_env=False, timeout=5) as c:
        assert c.get("/preview/output.jpg").status_code == 401
        assert c.get("/preview/output.jpg", headers={"Authorization": "Bearer nope"}).status_code == 403
        assert c.get("/preview/output.jpg", headers={"Origin": "http://evil.example",
                                                     "Authorization": f"Bearer {srv.token}"}).status_code == 403
        ok = c.get("/preview/output.jpg", headers={"Authorization": f"Bearer {srv.token}"})
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/jpeg"
        assert ok.headers["cache-control"] == "no-store" and decode(ok.content).shape == (144, 256, 3)
        assert c.get("/preview/sideways.jpg", headers={"Authorization": f"Bearer {srv.token}"}).status_code == 404
        state = c.get("/status").json()
        assert "jpeg" not in json.dumps(state)  # the read-only status carries no picture


def test_pictures_flow_only_while_a_dock_watches(show: tuple[ControlServer, PreviewFeeds]) -> None:
    srv, feeds = show
    url = f"ws://127.0.0.1:{srv.address[1]}/ws"

    async def session() -> tuple[list[dict[str, Any]], int, int]:
        async with websockets.connect(url, open_timeout=5, proxy=None) as ws:
            await ws.send(json.dumps({"token": srv.token}))
            await asyncio.sleep(1.0)
            before = feeds.encoded  # connected, not watching: nothing encoded
            await ws.send(json.dumps({"preview": ["output"], "id": "preview"}))
            pictures: list[dict[str, Any]] = []
            deadline = time.monotonic() + 20
            while len(pictures) < 4 and time.monotonic() < deadline:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if message["type"] == "result":
                    assert message["id"] == "preview" and message["ok"], message
                if message["type"] == "preview":
                    pictures.append(message)
            await ws.send(json.dumps({"preview": [], "id": "preview"}))
            await asyncio.sleep(1.0)
            stopped = feeds.encoded
            await asyncio.sleep(1.5)
            return pictures, before, feeds.encoded - stopped

    before = feeds.encoded
    pictures, connected, after_stop = asyncio.run(session())
    assert connected == before
    assert len(pictures) == 4 and all(p["feed"] == "output" for p in pictures)
    seqs = [p["seq"] for p in pictures]
    assert seqs == sorted(set(seqs))  # new frames only, in order
    images = [decode(base64.b64decode(p["jpeg"])) for p in pictures]
    assert images[0].shape == (144, 256, 3) and not np.array_equal(images[0], images[-1])  # it moves
    assert after_stop == 0  # nobody watches: nothing encoded


def test_a_bad_preview_request_is_answered(show: tuple[ControlServer, PreviewFeeds]) -> None:
    srv, _ = show
    url = f"ws://127.0.0.1:{srv.address[1]}/ws"

    async def ask(request: object) -> dict[str, Any]:
        async with websockets.connect(url, open_timeout=5, proxy=None) as ws:
            await ws.send(json.dumps({"token": srv.token}))
            await ws.send(json.dumps({"preview": request, "id": 1}))
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if message["type"] == "result":
                    return message

    assert "no preview feed 'sideways'" in asyncio.run(ask(["sideways"]))["error"]
    assert "expected" in asyncio.run(ask("output"))["error"]
