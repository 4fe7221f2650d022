"""Where a component comes from: a local path, or a Hugging Face repo id with an optional file in it.

Spec strings, as written in a profile:

* ``/models/sd15``, ``./styles/toon.safetensors``, ``~/x.ckpt``: a local directory or file;
* ``stable-diffusion-v1-5/stable-diffusion-v1-5``: a Hub repository (``owner/name``);
* ``Leoxing/Live2Diff/live2diff.ckpt``: one file in a Hub repository (``owner/name/path/in/repo``);
* ``owner/name@revision[/file]``: pin a branch, tag or commit.

A spec that names an existing path is always local, even if it also looks like a repo id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_HUB_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclass(frozen=True)
class Source:
    spec: str
    local: Path | None = None  # set for local sources
    repo_id: str | None = None  # set for Hub sources
    filename: str | None = None  # a file inside the repo (Hub), None: the repo's standard files
    revision: str | None = None

    @property
    def is_local(self) -> bool:
        return self.local is not None

    def __str__(self) -> str:
        return self.spec


def parse_source(spec: str) -> Source:
    """Classify a spec string; raises ValueError for an empty one."""
    spec = spec.strip()
    if not spec:
        raise ValueError("empty model source: expected a local path or a Hugging Face repo id")
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith(("/", "./", "../", "~", ".\\")) or re.match(r"^[A-Za-z]:[\\/]", spec):
        return Source(spec, local=path)
    parts = spec.split("/")
    owner, name_rev = parts[0], parts[1] if len(parts) > 1 else ""
    name, _, revision = name_rev.partition("@")
    if len(parts) >= 2 and _HUB_PART.match(owner) and _HUB_PART.match(name):
        filename = "/".join(parts[2:]) or None
        return Source(spec, repo_id=f"{owner}/{name}", filename=filename, revision=revision or None)
    return Source(spec, local=path)
