"""Writing an evaluation: ``results.json``, ``results.md`` (tables shaped like the paper's Tables 1
and 2) and one PNG per clip with the per-frame metric curves of every mode (matplotlib, Agg)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .harness import EvaluationResult

TABLE2_COLUMNS = ("inference with warmup", "use depth", "temporal module")


def to_json(result: EvaluationResult) -> dict[str, Any]:
    return {
        "settings": result.settings,
        "warp_flow": result.flow_label,
        "modes": {
            m.name: {
                "description": m.description,
                "warmup_inference": m.warmup_inference,
                "depth": m.depth,
                "temporal": m.temporal,
                "mean": result.mode_summary(m.name),
            }
            for m in result.modes
        },
        "clips": [
            {
                "clip": c.clip,
                "mode": c.mode,
                "frames": c.frames,
                "mean": c.summary(),
                "per_frame": {
                    "depth_mse": c.scores.depth_mse.tolist(),
                    "clip_similarity": c.scores.clip_similarity.tolist(),
                    "warp_error": c.scores.warp_error.tolist(),
                    "latency_s": c.latency_s.tolist(),
                },
            }
            for c in result.clips
        ],
    }


def _fmt(value: float, digits: int) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def to_markdown(result: EvaluationResult) -> str:
    """Table 1 (per mode: depth MSE, CLIP score x 100, warp error, latency) and Table 2 (ablation flags)."""
    n_clips = len({c.clip for c in result.clips})
    lines = [
        "# Live2Diff evaluation",
        "",
        f"{n_clips} clip(s); settings: " + ", ".join(f"{k}={v}" for k, v in result.settings.items()),
        "",
        f"Warp error flow: **{result.flow_label}**",
        "",
        "## Table 1: structure consistency, temporal smoothness, latency",
        "",
        "| Method | Depth MSE ↓ | CLIP Score ↑ | Warp Error ↓ | Latency (s/frame) | Wall s / 100 frames |",
        "|---|---|---|---|---|---|",
    ]
    for m in result.modes:
        s = result.mode_summary(m.name)
        if s:
            lines.append(
                f"| {m.name} | {_fmt(s['depth_mse'], 4)} | {_fmt(100 * s['clip_score'], 2)} | "
                f"{_fmt(s['warp_error'], 4)} | {_fmt(s['latency_s'], 3)} | {_fmt(s['wall_s_per_100_frames'], 1)} |"
            )
    lines += [
        "",
        "## Table 2: ablation (inference-time settings of one trained model)",
        "",
        "| Setting | " + " | ".join(c.capitalize() for c in TABLE2_COLUMNS) + " | Depth MSE ↓ | CLIP Score ↑ | Warp error ↓ |",
        "|---|---|---|---|---|---|---|",
    ]
    tick = {True: "✓", False: ""}
    for m in result.modes:
        s = result.mode_summary(m.name)
        if s:
            lines.append(
                f"| {m.name} | {tick[m.warmup_inference]} | {tick[m.depth]} | {tick[m.temporal]} | "
                f"{_fmt(s['depth_mse'], 4)} | {_fmt(100 * s['clip_score'], 2)} | {_fmt(s['warp_error'], 4)} |"
            )
    lines += [
        "",
        "Depth MSE: mean squared difference of the engine's DPT depth maps (each normalised to [0, 1]) of input and "
        "output frames. CLIP score: mean cosine similarity of CLIP image embeddings of adjacent output frames, x 100. "
        "Warp error: occlusion-weighted MSE (pixels in [0, 1]) between each output frame and its predecessor warped "
        "by optical flow. Means are over clips, each clip's own mean first.",
        "",
    ]
    return "\n".join(lines)


def plot_clip(result: EvaluationResult, clip: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [c for c in result.clips if c.clip == clip]
    fig, axes = plt.subplots(4, 1, figsize=(8, 10), sharex=True)
    for c in rows:
        axes[0].plot(c.scores.depth_mse, label=c.mode)
        axes[1].plot(range(1, c.frames), c.scores.clip_similarity, label=c.mode)
        axes[2].plot(range(1, c.frames), c.scores.warp_error, label=c.mode)
        axes[3].plot(c.latency_s, label=c.mode)
    titles = ("depth MSE (input vs output)", "CLIP cosine (frame t-1 vs t)", f"warp error ({result.flow_label})",
              "latency (s)")
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel("frame")
    fig.suptitle(clip)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_report(result: EvaluationResult, out_dir: Path) -> list[Path]:
    """results.json, results.md and plot_<clip>.png under ``out_dir``; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "results.json", out_dir / "results.md"]
    written[0].write_text(json.dumps(to_json(result), indent=2, allow_nan=True), encoding="utf-8")
    written[1].write_text(to_markdown(result), encoding="utf-8")
    for clip in dict.fromkeys(c.clip for c in result.clips):
        written.append(plot_clip(result, clip, out_dir / f"plot_{_safe(clip)}.png"))
    return written


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)
