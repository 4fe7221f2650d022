"""An NDI sender in its own process, for the chaos suite's "source lost and back" case.

    python scripts/chaos_ndi_sender.py NAME [--fps 30]

Sends 96x64 frames (grey level = frame number) until killed; discoverable over 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from plugins import ndi_runtime  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    lib = ndi_runtime.acquire("chaos sender")
    create = lib.SendCreate()
    create.ndi_name = args.name
    create.clock_video = True
    sender = lib.send_create(create)
    video = lib.VideoFrameV2()
    video.FourCC = lib.FOURCC_VIDEO_TYPE_BGRX
    video.frame_rate_N, video.frame_rate_D = args.fps, 1
    i = 0
    while True:
        video.data = np.full((64, 96, 4), i % 256, np.uint8)
        lib.send_send_video_v2(sender, video)  # clock_video: paced at fps
        i += 1


if __name__ == "__main__":
    main()
