"""The crash-safe file writer when the disk is full (/dev/full answers every write with ENOSPC).

Run in a child process: before the fix, the second write after a failed one crashed the whole
show with SIGSEGV inside FFmpeg (muxing again after avformat_write_header failed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import sys
import numpy as np
from pathlib import Path
from live2diff_broadcast.media.av_writer import AvWriter

writer = AvWriter(Path(sys.argv[1]), 64, 64, 30)
for i in range(4):
    try:
        writer.write(np.zeros((64, 64, 3), np.uint8), i * 33_000_000)
        print("wrote", i)
    except OSError as exc:
        print("refused", i, exc)
try:
    writer.close()
    print("closed")
except OSError as exc:
    print("close refused", exc)
"""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_full_disk_refuses_writes_and_never_crashes(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    path.symlink_to("/dev/full")
    child = subprocess.run([sys.executable, "-c", CHILD, str(path)], cwd=REPO, capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    assert child.returncode == 0, f"the writer crashed (rc {child.returncode}): {child.stderr[-2000:]}"
    lines = child.stdout.splitlines()
    assert lines[-1].startswith("close") and "No space left on device" in child.stdout
    refused = [line for line in lines if line.startswith("refused")]
    if suffix == ".mp4":  # the header goes out with the first frame: that write fails, the later ones are refused
        assert len(refused) == 4 and "No space left on device" in refused[0]
        assert all("not writable any more since an earlier write failed" in line for line in refused[1:])
