"""Messages between the supervisor and the engine process (picklable dataclasses, nothing else).

Parent -> engine: ``SetStyle``, ``SetBlend``, ``MoveLoraFader``, ``SetPrompt``, ``RewarmSinks``, ``Reset``, ``Flush``, ``Stop``.
Engine -> parent: ``StateEvent``, ``FrameEvent``, ``StyleEvent``, ``BackendEvent``, ``LoraEvent``, ``ErrorEvent``,
``StatsEvent``, ``Heartbeat``. ``EngineSpec`` travels once, at spawn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..engine.config import StreamConfig
from ..engine.transitions import Settle
from ..engine.translator import ModelKind
from ..media.frames import now_ns
from .transport import RingHandle


class EngineState(StrEnum):
    LOADING = "loading"
    WARMING_UP = "warming_up"
    LIVE = "live"
    STOPPED = "stopped"


# --- control messages (parent -> engine) ----------------------------------------------------


@dataclass(frozen=True)
class SetPrompt:
    prompt: str  # switch prompt and re-warm on the recent frames


@dataclass(frozen=True)
class SetStyle:
    """Switch to a style: everything it needs travels with it, so the engine needs no profile (picklable)."""

    name: str
    prompt: str
    config: StreamConfig
    models: dict[str, Any]  # ModelsSection.model_dump() this style runs on (Profile.models_for)
    request_id: int = 0
    at_ns: int = field(default_factory=now_ns)  # control input time (the key press), for the switch latency
    crossfade_frames: int = 0  # > 0: glide there over this many frames when the models are shared (else a cut)
    settle: Settle = "rewarm"  # after a crossfade: "rewarm" the sinks in the new style, or "refresh" (keep them)


@dataclass(frozen=True)
class SetBlend:
    """Hold a fader at ``t`` between styles ``a`` and ``b`` (both on the models on air; the supervisor checked)."""

    a: SetStyle
    b: SetStyle
    t: float


@dataclass(frozen=True)
class MoveLoraFader:
    """Move one style LoRA's live fader (the user's ``control.actions.SetLoraWeight``, checked by the control stage)."""

    name: str  # a style LoRA's name (file stem) or index
    weight: float  # in [0, 1]


@dataclass(frozen=True)
class RewarmSinks:
    pass  # re-warm the current style's sinks on the recent frames (e.g. after a scene cut)


@dataclass(frozen=True)
class Reset:
    pass  # the next ``warmup`` frames become the new sinks


@dataclass(frozen=True)
class Flush:
    pass  # the source ended: finish the frames still in the pipeline (the last n - 1)


@dataclass(frozen=True)
class Stop:
    reason: str = "stopped"


# --- events (engine -> parent) ---------------------------------------------------------------


@dataclass(frozen=True)
class StateEvent:
    state: EngineState
    message: str = ""


@dataclass(frozen=True)
class FrameEvent:
    frame_index: int  # translator input index
    pts_ns: int  # the input's original capture time
    latency_ns: int  # engine output time - pts_ns (includes the pipeline's n-1 frames)
    compute_ns: int  # time spent in the translator call that produced it


@dataclass(frozen=True)
class StyleEvent:
    """A style switch moved on: ``preparing`` (models loading, old style on air), ``applied`` (outputs
    with frame_index >= ``from_index`` are in the new style) or ``failed`` (old style stays)."""

    name: str
    request_id: int
    at_ns: int
    status: str
    from_index: int = 0
    prepare_ms: float = 0.0
    rewarm_ms: float = 0.0
    cached: bool = False
    message: str = ""


@dataclass(frozen=True)
class ErrorEvent:
    message: str  # with traceback
    fatal: bool = False  # a configuration error no restart can fix (a model file missing or unreadable): the show stops


@dataclass(frozen=True)
class BackendEvent:
    """The UNet backend actually running, and why it is not the requested one (None: it is)."""

    active: str
    fallback_reason: str | None


@dataclass(frozen=True)
class LoraEvent:
    """The LoRA faders of the models on air, as the engine holds them: {name: weight} (empty: none)."""

    weights: dict[str, float]


@dataclass(frozen=True)
class Heartbeat:
    """Sent by the engine's heartbeat thread every 0.25 s (``heartbeat.py``)."""

    sent_ns: int
    progress_at_ns: int  # now_ns() of the engine's last progress (a stage of a frame, a re-warm step, a load step)
    activity: str  # idle / loading / frame / rewarm / switch / flush


@dataclass(frozen=True)
class StatsEvent:
    cpu_s: float  # process CPU time (user + system) at stop
    frames_in: int
    frames_out: int


@dataclass(frozen=True)
class EngineSpec:
    """Everything the child needs; picklable (sent once at spawn)."""

    profile: dict[str, Any]  # Profile.model_dump()
    style: str | None
    input: RingHandle
    output: RingHandle
    model: ModelKind = "diffusion"  # "passthrough": identity, for transport benchmarks and tests
    log_level: int = logging.INFO
    style_cache: int = 2  # prepared model sets kept for instant switching back (besides the one on air)
    record_dir: str | None = None  # run --record: input, output and control timeline (runtime/recorder.py)
    record_fps: float = 30.0


def style_message(profile: Any, name: str | None, request_id: int = 0, at_ns: int | None = None) -> SetStyle:
    """The SetStyle for ``profile``'s style ``name`` (a config.Profile). With the 'tiny' preset every style runs
    on the same random models (per-style base / checkpoint / LoRAs need real weights)."""
    style = profile.style(name)
    models = profile.models_for(style) if profile.models.preset != "tiny" else profile.models
    return SetStyle(style.name, style.prompt, profile.stream_config(style), models.model_dump(), request_id,
                    now_ns() if at_ns is None else at_ns, style.crossfade_frames, style.crossfade_settle)
