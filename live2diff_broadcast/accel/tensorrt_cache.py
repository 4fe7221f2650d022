"""On-disk cache of built TensorRT plans and exported ONNX graphs, addressed by ``TensorRTKey``.

Layout under the cache root: ``<key.filename>.plan`` (or ``.onnx`` folder for graphs) plus a
``.json`` sidecar holding the full key, whether the engine is refittable, and how long the build
took (the next build's time estimate).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from .tensorrt_key import TensorRTKey

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/live2diff_broadcast/engines`` (the folder name is kept: existing caches stay valid)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "live2diff_broadcast" / "engines"


class TensorRTCache:
    """TensorRT plans and their ONNX graphs under ``root``, with a JSON sidecar per plan."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root else default_cache_dir()

    def plan_path(self, key: TensorRTKey) -> Path:
        return self.root / f"{key.filename}.plan"

    def onnx_path(self, key: TensorRTKey) -> Path:
        """ONNX graphs get a folder each (external-data files live next to the graph)."""
        onnx_key = key.for_onnx()
        return self.root / "onnx" / onnx_key.filename / f"{onnx_key.kind}.onnx"

    def _meta_path(self, plan: Path) -> Path:
        return plan.with_suffix(".json")

    def lookup(self, key: TensorRTKey) -> Path | None:
        plan = self.plan_path(key)
        meta = self._read_meta(plan)
        if plan.is_file() and meta is not None and meta.get("key") == asdict(key):
            return plan
        return None

    def refit_candidate(self, key: TensorRTKey) -> Path | None:
        """A cached refittable engine identical to ``key`` except for its weights, if any."""
        if not self.root.is_dir():
            return None
        structure = key.structure_digest()
        for meta_file in sorted(self.root.glob(f"{key.kind}-*.json")):
            meta = self._read_meta(meta_file.with_suffix(".plan"))
            if not meta or not meta.get("refittable") or meta.get("structure") != structure:
                continue
            plan = meta_file.with_suffix(".plan")
            if plan.is_file():
                return plan
        return None

    def record(self, key: TensorRTKey, plan: Path, refittable: bool, build_seconds: float) -> None:
        meta = {"key": asdict(key), "structure": key.structure_digest(), "refittable": refittable,
                "build_seconds": round(build_seconds, 1)}
        self._meta_path(plan).write_text(json.dumps(meta, indent=2))

    def last_build_seconds(self, kind: str, gpu: str) -> float | None:
        """Duration of the most recent build of this kind on this GPU (for the time estimate)."""
        if not self.root.is_dir():
            return None
        times = []
        for meta_file in self.root.glob(f"{kind}-*.json"):
            meta = self._read_meta(meta_file.with_suffix(".plan")) or {}
            if meta.get("key", {}).get("gpu") == gpu and "build_seconds" in meta:
                times.append((meta_file.stat().st_mtime, float(meta["build_seconds"])))
        return max(times)[1] if times else None

    def _read_meta(self, plan: Path) -> dict | None:
        meta = self._meta_path(plan)
        if not meta.is_file():
            return None
        try:
            return json.loads(meta.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            logger.warning("ignoring unreadable TensorRT plan metadata %s: %s", meta, exc)
            return None
