"""The engine process: owns the models, turns input-ring frames into output-ring frames.

Child side (``engine_main``), per input frame:
  1. read the newest frame from the input ring (older ones are dropped and counted);
  2. remember its pts_ns / seq under the translator's input index (pushes counted from 0);
  3. push it through the translator (warmup: nothing for ``warmup`` frames, then one out per in);
  4. write each output to the output ring with the ORIGINAL pts_ns and seq of its input;
  5. report the frame (latency = now - pts_ns, compute time) and state changes as events.

Control messages (``SetStyle``, ``SetPrompt``, ``Rewarm``, ``Reset``, ``Flush``, ``Stop``) are
handled between frames; style switches follow the policy of ``engine/style_switch.py`` (hold the
previous style until the new one is ready and warm, then cut; models prepared in the background;
the last request wins) and are reported as ``StyleEvent``s. The child
ignores SIGINT (Ctrl+C reaches the whole process group; the parent decides) and exits on its
own when the parent dies or the channel closes, so it can never be orphaned.

Parent side: ``EngineProcess`` starts the child with the spawn method and wraps its channel.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import sys
import time
import traceback
from dataclasses import dataclass, field
from enum import StrEnum
from multiprocessing.connection import Connection
from multiprocessing.context import BaseContext
from typing import Any, Literal, Protocol

import numpy as np

from .engine.config import StreamConfig
from .frames import now_ns
from .transport import ControlChannel, FrameRing, RingFrame, RingHandle

logger = logging.getLogger(__name__)

ModelKind = Literal["diffusion", "passthrough"]


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


@dataclass(frozen=True)
class Rewarm:
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


@dataclass(frozen=True)
class BackendEvent:
    """The UNet backend actually running, and why it is not the requested one (None: it is)."""

    active: str
    fallback_reason: str | None


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


def style_message(profile: Any, name: str | None, request_id: int = 0, at_ns: int | None = None) -> SetStyle:
    """The SetStyle for ``profile``'s style ``name`` (a config.Profile). With the 'tiny' preset every style runs
    on the same random models (per-style base / checkpoint / LoRAs need real weights)."""
    style = profile.style(name)
    models = profile.models_for(style) if profile.models.preset != "tiny" else profile.models
    return SetStyle(style.name, style.prompt, profile.stream_config(style), models.model_dump(), request_id,
                    now_ns() if at_ns is None else at_ns)


class Translator(Protocol):
    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]: ...
    def set_prompt(self, prompt: str) -> list[tuple[int, np.ndarray]]: ...
    def set_style(self, config: StreamConfig, prompt: str, components: Any = None) -> list[tuple[int, np.ndarray]]: ...
    def rewarm(self) -> list[tuple[int, np.ndarray]]: ...
    def reset(self) -> None: ...
    def flush(self) -> list[tuple[int, np.ndarray]]: ...
    @property
    def last_emitted(self) -> int: ...
    @property
    def components(self) -> Any: ...


class IdentityTranslator:
    """A stand-in model: every input comes straight back (no warmup), cropped to ``size``."""

    def __init__(self, height: int, width: int) -> None:
        self.size = (height, width)
        self.count = 0

    def push(self, frame: np.ndarray) -> list[tuple[int, np.ndarray]]:
        index, self.count = self.count, self.count + 1
        if frame.shape[:2] != self.size:
            from .resize import fit_frame

            frame = fit_frame(frame, *self.size)
        return [(index, frame)]

    def set_prompt(self, prompt: str) -> list[tuple[int, np.ndarray]]:
        return []

    def set_style(self, config: StreamConfig, prompt: str, components: Any = None) -> list[tuple[int, np.ndarray]]:
        return []

    def rewarm(self) -> list[tuple[int, np.ndarray]]:
        return []

    @property
    def last_emitted(self) -> int:
        return self.count - 1

    @property
    def components(self) -> Any:
        return None

    def flush(self) -> list[tuple[int, np.ndarray]]:
        return []

    def reset(self) -> None:
        pass


def build_translator(spec: EngineSpec) -> Translator:
    from .config import Profile

    profile = Profile(**spec.profile)
    if spec.model == "passthrough":
        logger.warning("engine model = 'passthrough': frames are NOT restyled (identity stand-in)")
        return IdentityTranslator(profile.engine.height, profile.engine.width)
    from .engine.translator import FrameTranslator

    style = profile.style(spec.style)
    if profile.models.preset != "tiny":  # the style's own base / checkpoint / LoRAs from the start
        profile = profile.model_copy(update={"models": profile.models_for(style)})
    return FrameTranslator.from_profile(profile, style)


def build_switcher(spec: EngineSpec, translator: Translator) -> Any:
    """The StyleSwitcher for ``translator``; its loader builds another style's models (engine/style_switch.py)."""
    from .config import Profile
    from .engine.style_switch import StyleSwitcher

    profile = Profile(**spec.profile)
    initial = style_message(profile, spec.style).models
    if spec.model == "passthrough":
        return StyleSwitcher(translator, _no_models, {}, cache_size=0)
    return StyleSwitcher(translator, load_style_models, initial, cache_size=spec.style_cache)


def _no_models(models: dict[str, Any], current: Any) -> Any:
    raise RuntimeError("the passthrough engine has no models to load")


def load_style_models(models: dict[str, Any], current: Any) -> Any:
    """Another style's UNet + text encoder (checkpoint / LoRAs), sharing ``current``'s other parts; on its device."""
    from .config import ModelsSection
    from .weights.loader import LoadOptions, load_style

    section = ModelsSection(**models)
    if section.preset == "tiny":
        raise ValueError("per-style models need models.preset = 'live2diff' (the tiny preset has no weight files)")
    parameter = next(current.unet.parameters())
    loaded = load_style(current, section, options=LoadOptions(download_hint="live2diff-broadcast models --download --profile <this profile>"))
    return loaded.to(parameter.device, parameter.dtype)


# --- child ----------------------------------------------------------------------------------


def engine_main(spec: EngineSpec, conn: Connection) -> None:
    """Entry point of the engine process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=spec.log_level, format="%(asctime)s %(levelname)s engine %(name)s: %(message)s", stream=sys.stderr)
    channel = ControlChannel(conn)
    in_ring = FrameRing.attach(spec.input)
    out_ring = FrameRing.attach(spec.output)
    try:
        _EngineLoop(spec, channel, in_ring, out_ring).run()
    except Exception:
        message = traceback.format_exc()
        logger.error("engine failed:\n%s", message)
        channel.send(ErrorEvent(message))
        raise SystemExit(1) from None
    finally:
        in_ring.close()
        out_ring.close()


class _EngineLoop:
    def __init__(self, spec: EngineSpec, channel: ControlChannel, in_ring: FrameRing, out_ring: FrameRing) -> None:
        self.spec, self.channel, self.in_ring, self.out_ring = spec, channel, in_ring, out_ring
        self.state = EngineState.STOPPED
        self.meta: dict[int, tuple[int, int]] = {}  # input index -> (pts_ns, seq)
        self.pushed = 0
        self.emitted = 0
        self.switcher: Any = None  # engine/style_switch.StyleSwitcher, built with the translator
        self.live_from = 0  # outputs of inputs from this index on mean "live" (after a reset: the new sinks)
        self._backend: tuple[str, str | None] | None = None  # last reported (active, fallback reason)

    def run(self) -> None:
        parent = multiprocessing.parent_process()
        self._set_state(EngineState.LOADING)
        translator = build_translator(self.spec)
        self.switcher = build_switcher(self.spec, translator)
        self._report_backend(translator)
        self._set_state(EngineState.WARMING_UP)
        while True:
            for message in self.channel.receive_all():
                if isinstance(message, Stop):
                    logger.info("engine stopping: %s", message.reason)
                    self.switcher.close()
                    self._finish()
                    return
                self._control(translator, message)
            self._switch_styles(translator)
            if self.channel.closed or (parent is not None and not parent.is_alive()):
                logger.warning("engine: the supervisor is gone; exiting")
                return
            frame = self.in_ring.read(timeout=0.05)
            if frame is not None:
                self._process(translator, frame)

    def _process(self, translator: Translator, frame: RingFrame) -> None:
        index = self.pushed
        self.pushed += 1
        self.meta[index] = (frame.pts_ns, frame.seq)
        started = now_ns()
        outputs = translator.push(frame.image)
        self._emit(outputs, now_ns() - started)

    def _switch_styles(self, translator: Translator) -> None:
        """Apply the last requested style if it is ready (between frames); forward what happened."""
        for report in self.switcher.poll():
            r = report.request
            if report.status == "applied" and not report.outputs and translator.last_emitted < self.pushed - 1:
                self.live_from = self.pushed  # fewer recent frames than warmup: warming up afresh
                self._set_state(EngineState.WARMING_UP)
            self.channel.send(StyleEvent(r.name, r.request_id, r.at_ns, report.status, report.from_index,
                                         report.prepare_ms, report.rewarm_ms, report.cached, report.message))
            self._emit(report.outputs, int(report.rewarm_ms * 1e6))
            self._report_backend(translator)

    def _report_backend(self, translator: Translator) -> None:
        """Tell the supervisor which backend runs (a style on other models may fall back to eager)."""
        active = str(getattr(translator, "active_backend", "passthrough"))
        reason = getattr(translator, "backend_fallback_reason", None)
        if (active, reason) != self._backend:
            self._backend = (active, reason)
            self.channel.send(BackendEvent(active, reason))

    def _control(self, translator: Translator, message: object) -> None:
        if isinstance(message, SetStyle):
            logger.info("engine: style %r requested (request %d)", message.name, message.request_id)
            self.switcher.request(message)  # applied by _switch_styles; a later request replaces it
        elif isinstance(message, Rewarm):
            started = now_ns()
            outputs = translator.rewarm()
            logger.info("engine: re-warmed the current style in %.0f ms", (now_ns() - started) / 1e6)
            if not outputs:
                self.live_from = self.pushed
                self._set_state(EngineState.WARMING_UP)
            self._emit(outputs, now_ns() - started)
        elif isinstance(message, SetPrompt):
            logger.info("engine: new prompt %r, re-warming", message.prompt)
            started = now_ns()
            outputs = translator.set_prompt(message.prompt)
            if not outputs:  # fewer recent frames than warmup: the stream starts over
                self.live_from = self.pushed
                self._set_state(EngineState.WARMING_UP)
            self._emit(outputs, now_ns() - started)
        elif isinstance(message, Flush):
            last = self.in_ring.read(timeout=0.0)  # a frame written just before the Flush comes first
            if last is not None:
                self._process(translator, last)
            started = now_ns()
            outputs = translator.flush()
            logger.info("engine: source ended, flushed %d frames from the pipeline", len(outputs))
            self._emit(outputs, now_ns() - started)
        elif isinstance(message, Reset):
            logger.info("engine: reset, warming up on the next frames")
            translator.reset()
            self.live_from = self.pushed
            self._set_state(EngineState.WARMING_UP)
        else:
            logger.error("engine: unknown control message %r (expected SetStyle, SetPrompt, Rewarm, Reset, Flush or Stop); ignored", message)

    def _emit(self, outputs: list[tuple[int, np.ndarray]], compute_ns: int) -> None:
        for index, image in outputs:
            meta = self.meta.get(index)
            if meta is None:
                logger.error("engine: output for input index %d which was never pushed; dropped", index)
                continue
            pts_ns, seq = meta
            self.out_ring.write(image, pts_ns, seq, index)
            self.emitted += 1
            self.channel.send(FrameEvent(index, pts_ns, now_ns() - pts_ns, compute_ns))
            if self.state is not EngineState.LIVE and index >= self.live_from:
                self._set_state(EngineState.LIVE)
        oldest = self.pushed - 256  # bounded: the pipeline never holds frames this old
        for stale in [i for i in self.meta if i < oldest]:
            del self.meta[stale]

    def _set_state(self, state: EngineState, message: str = "") -> None:
        self.state = state
        self.channel.send(StateEvent(state, message))

    def _finish(self) -> None:
        self._set_state(EngineState.STOPPED)
        self.channel.send(StatsEvent(time.process_time(), self.pushed, self.emitted))


# --- parent ---------------------------------------------------------------------------------


class EngineProcess:
    """Parent-side handle: start, talk to and stop one engine process."""

    def __init__(self, spec: EngineSpec, ctx: BaseContext) -> None:
        self.spec, self.ctx = spec, ctx
        parent_conn, child_conn = ctx.Pipe(duplex=True)
        self.channel = ControlChannel(parent_conn)
        self._child_conn = child_conn
        self.process = ctx.Process(target=engine_main, args=(spec, child_conn), name="live2diff-engine", daemon=True)  # type: ignore[attr-defined]

    def start(self) -> None:
        self.process.start()
        self._child_conn.close()  # the child holds its own copy; ours would hide EOF
        logger.info("engine process started (pid %s, model %s)", self.process.pid, self.spec.model)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def is_alive(self) -> bool:
        return self.process.is_alive()

    def send(self, message: SetStyle | SetPrompt | Rewarm | Reset | Flush | Stop) -> bool:
        return self.channel.send(message)

    def events(self, timeout: float = 0.0) -> list[Any]:
        return self.channel.receive_all(timeout)

    def stop(self, reason: str = "stopped", timeout: float = 5.0) -> list[Any]:
        """Ask the engine to stop, then terminate / kill it if it does not; returns its last events."""
        events: list[Any] = []
        if self.process.is_alive():
            self.send(Stop(reason))
            deadline = time.monotonic() + timeout
            while self.process.is_alive() and time.monotonic() < deadline:
                events.extend(self.events(timeout=0.05))
        events.extend(self.events())
        if self.process.is_alive():
            logger.warning("engine pid %s did not stop within %.1f s: terminating", self.process.pid, timeout)
            self.process.terminate()
            self.process.join(2.0)
        if self.process.is_alive():
            logger.warning("engine pid %s ignored SIGTERM: killing", self.process.pid)
            self.process.kill()
        self.process.join(2.0)
        self.channel.close()
        return events
