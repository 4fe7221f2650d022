"""preview sink: a clear error at open where OpenCV has no GUI, never a crash."""

from __future__ import annotations

import pytest

import plugins.preview as preview_module
from live2diff_broadcast.plugin_api import PluginError
from plugins.preview import PreviewSink, gui_backend


@pytest.mark.skipif(gui_backend() is not None, reason="this OpenCV has a GUI build")
def test_headless_opencv_is_a_clear_error_at_open() -> None:
    sink = PreviewSink.create({})
    with pytest.raises(PluginError, match="sink .preview.: this OpenCV build has no GUI.*pip install opencv-python"):
        sink.open(64, 48, 30.0)
    sink.close()


def test_no_display_is_a_clear_error_before_touching_highgui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview_module, "gui_backend", lambda: "GTK3")
    monkeypatch.setattr(preview_module.platform, "system", lambda: "Linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(PluginError, match="no display"):
        PreviewSink.create({}).open(64, 48, 30.0)
