"""One model store: finds every component on disk or in the Hugging Face cache, and downloads what is missing.

Downloads go through ``huggingface_hub`` into its standard cache (``HF_HUB_CACHE``, else
``HF_HOME/hub``, else ``~/.cache/huggingface/hub``) with its progress bars. Offline
(``HF_HUB_OFFLINE=1``, ``models.auto_download = false`` or no network), anything missing is
reported in ONE error that lists each missing file and the command that fetches them all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download, try_to_load_from_cache

from .errors import MissingWeightsError
from .requirements import Requirement

logger = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}


def hub_cache_dir() -> Path:
    """The huggingface_hub cache, read from the environment now (not at import time)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "huggingface" / "hub"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


@dataclass
class Located:
    """A component found on disk: ``root`` (its folder, or the file itself) and each needed file."""

    requirement: Requirement
    root: Path
    files: dict[str, Path] = field(default_factory=dict)  # first alternative name -> path found

    @property
    def size_bytes(self) -> int:
        paths = self.files.values() if self.files else [self.root]
        return sum(p.stat().st_size for p in paths if p.is_file())

    def file(self, name: str) -> Path:
        """The path found for need ``name`` (its first alternative), or the root for single files."""
        return self.files.get(name, self.root)


@dataclass
class Missing:
    requirement: Requirement
    files: list[str]  # what is missing, as "repo/file" or a local path

    def describe(self) -> str:
        return f"  {self.requirement.component} ({self.requirement.source.spec}): " + ", ".join(self.files)


class ModelStore:
    """Resolves requirements to local files; downloads on request."""

    def __init__(self, cache_dir: Path | None = None, offline: bool | None = None) -> None:
        self.cache_dir = cache_dir or hub_cache_dir()
        self.offline = hub_offline() if offline is None else offline

    # 1. find what is already here -------------------------------------------------------------
    def locate(self, req: Requirement) -> Located | Missing:
        if req.source.local is not None:
            return self._locate_local(req, req.source.local)
        return self._locate_cached(req)

    def _locate_local(self, req: Requirement, path: Path) -> Located | Missing:
        if req.single_file:
            return Located(req, path) if path.is_file() else Missing(req, [str(path)])
        found, missing = {}, []
        for alternatives in req.needs:
            hit = next((path / a for a in alternatives if (path / a).is_file()), None)
            if hit is None:
                missing.append(str(path / alternatives[0]))
            else:
                found[alternatives[0]] = hit
        return Missing(req, missing) if missing else Located(req, path, found)

    def _cached(self, req: Requirement, filename: str) -> Path | None:
        assert req.source.repo_id is not None  # Hub requirement (internal invariant)
        hit = try_to_load_from_cache(
            req.source.repo_id, filename, cache_dir=str(self.cache_dir), revision=req.source.revision
        )
        return Path(hit) if isinstance(hit, str) else None

    def _locate_cached(self, req: Requirement) -> Located | Missing:
        repo = req.source.repo_id
        if req.single_file:
            filename = req.source.filename or ""
            hit = self._cached(req, filename)
            return Located(req, hit) if hit else Missing(req, [f"{repo}/{filename}"])
        found, missing = {}, []
        for alternatives in req.needs:
            hit = next((p for p in (self._cached(req, a) for a in alternatives) if p is not None), None)
            if hit is None:
                missing.append(f"{repo}/{alternatives[0]}")
            else:
                found[alternatives[0]] = hit
        if missing:
            return Missing(req, missing)
        first_name, first_path = next(iter(found.items()))
        root = first_path
        for _ in Path(first_name).parts:
            root = root.parent  # .../snapshots/<commit>/unet/config.json -> .../snapshots/<commit>
        return Located(req, root, found)

    # 2. fetch what is not ---------------------------------------------------------------------
    def download(self, req: Requirement) -> Located:
        """Download the missing files of a Hub requirement (progress bars from huggingface_hub)."""
        located = self.locate(req)
        if isinstance(located, Located):
            return located
        if req.source.repo_id is None:
            raise MissingWeightsError(
                f"{req.component}: {', '.join(located.files)} not found, and a local path cannot be downloaded"
            )
        repo, revision = req.source.repo_id, req.source.revision
        if req.single_file:
            wanted = [req.source.filename or ""]
        else:
            available = set(HfApi().list_repo_files(repo, revision=revision))
            wanted = []
            for alternatives in req.needs:
                if any(self._cached(req, a) for a in alternatives):
                    continue
                choice = next((a for a in alternatives if a in available), None)
                if choice is None:
                    raise MissingWeightsError(f"{req.component}: the Hub repo {repo} has none of {list(alternatives)}")
                wanted.append(choice)
        for filename in wanted:
            logger.info("downloading %s/%s", repo, filename)
            hf_hub_download(repo, filename, revision=revision, cache_dir=str(self.cache_dir))
        result = self.locate(req)
        if isinstance(result, Missing):
            raise MissingWeightsError("downloaded but still missing:\n" + result.describe())
        return result

    def ensure(self, reqs: list[Requirement], download: bool = True, hint: str = "") -> dict[str, Located]:
        """Every requirement located (downloading missing ones unless offline), or ONE error listing all gaps."""
        located: dict[str, Located] = {}
        missing: list[Missing] = []
        failures: list[str] = []
        unreachable = False  # once the Hub cannot be reached, do not sit through every retry again
        for req in reqs:
            result = self.locate(req)
            if (isinstance(result, Missing) and download and not self.offline and not unreachable
                    and req.source.repo_id is not None):
                try:
                    result = self.download(req)
                except MissingWeightsError:
                    raise
                except Exception as exc:  # noqa: BLE001 - network / Hub failures become a listing, below
                    failures.append(f"{req.source.repo_id}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
                    if _is_unreachable(exc):
                        unreachable = True
                        failures.append("the Hugging Face Hub is unreachable: no further downloads were tried")
            if isinstance(result, Missing):
                missing.append(result)
            else:
                located[req.component] = result
        if missing:
            raise MissingWeightsError(self.missing_message(missing, hint, failures))
        return located

    def missing_message(self, missing: list[Missing], hint: str, failures: list[str]) -> str:
        why = "offline (HF_HUB_OFFLINE=1)" if self.offline else "not downloaded"
        lines = [f"model files missing ({why}; Hugging Face cache: {self.cache_dir}):"]
        lines += [m.describe() for m in missing]
        if failures:
            lines.append("download failed for: " + "; ".join(failures))
        if any(m.requirement.source.repo_id for m in missing):
            lines.append(f"fetch them with (network needed, HF_HUB_OFFLINE unset): {hint or 'live2diff-broadcast models --download'}")
        if any(m.requirement.source.local for m in missing):
            lines.append("local paths above: fix the path in the profile ([models], or the style that names it)")
        return "\n".join(lines)


def _is_unreachable(exc: BaseException) -> bool:
    """A network failure (no route, name resolution, timeout) rather than a Hub answer (404, auth)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = type(current).__name__
        if isinstance(current, (ConnectionError, TimeoutError)) or "Connect" in name or "Timeout" in name:
            return True
        if isinstance(current, OSError) and current.errno is not None and current.errno < 0:  # e.g. EAI_NONAME
            return True
        current = current.__cause__ or current.__context__
    return False
