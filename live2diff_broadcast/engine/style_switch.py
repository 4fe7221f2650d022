"""Live style switching in the engine process: nothing the viewer sees ever breaks.

Policy: **hold, then cut.** The output keeps flowing in the previous style until the new one is
ready and warm, then cuts to it on one frame:

1. A style with the SAME models (another prompt, strength / steps, seed, noise mode, template)
   is applied at once between two frames: ``FrameTranslator.set_style`` reconfigures the stream
   in place, encodes the prompt and re-warms the sinks on the last ``warmup`` input frames. The
   frames that were in flight come out of that warmup pass in the new style, so no input frame
   is skipped or shown twice; the cost is one warmup pass (``rewarm_ms``), during which the sink
   holds the last frame.
2. A style with OTHER models (base, style checkpoint, LoRA set) is first prepared by a worker
   thread (``load(models, current)``: ``weights.loader.load_style``, which never touches the
   running components) while frames keep flowing in the old style; when ready it is swapped in
   between two frames and re-warmed as in 1. A failed load is reported and the old style stays.
3. Prepared component sets are kept in an LRU of ``cache_size`` (the one on air not counted), so
   switching back is as fast as 1. A parked set has its KV-cache processors removed, so it holds
   its weights only. At most one set is loading at a time.
4. Requests coalesce: only the LAST requested style is ever applied. A request arriving while
   another style's models load waits for that load (it is cached, not wasted), then proceeds.

``poll()`` is called by the engine loop between frames and returns ``SwitchReport``s (preparing /
applied / failed) that the loop forwards as events; ``from_index`` of an applied switch is the
first output frame index in the new style (output indices only ever increase).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from diffusers.models.attention_processor import AttnProcessor

from ..media.frames import now_ns
from .attention import temporal_attentions
from .components import Live2DiffComponents
from .config import StreamConfig
from .transitions import Settle

logger = logging.getLogger(__name__)

Outputs = list[tuple[int, np.ndarray]]


class StyleRequest(Protocol):
    """What a switch needs (the engine process's ``SetStyle`` message is one)."""

    @property
    def name(self) -> str: ...
    @property
    def prompt(self) -> str: ...
    @property
    def config(self) -> StreamConfig: ...
    @property
    def models(self) -> dict[str, Any]: ...  # ModelsSection.model_dump(): equal dicts mean the same weights
    @property
    def request_id(self) -> int: ...
    @property
    def at_ns(self) -> int: ...  # control input time, carried into the events
    @property
    def crossfade_frames(self) -> int: ...  # > 0: glide over this many frames where the styles can blend
    @property
    def settle(self) -> Settle: ...  # after a crossfade: "rewarm" the sinks or "refresh" (keep them)


LoadFn = Callable[[dict[str, Any], Live2DiffComponents], Live2DiffComponents]


@dataclass
class SwitchReport:
    request: StyleRequest
    status: Literal["preparing", "applied", "failed"]
    outputs: Outputs = field(default_factory=list)  # frames the re-warm completed, new style
    from_index: int = 0  # first output frame index in the new style
    prepare_ms: float = 0.0  # background load (0: in place or cached)
    rewarm_ms: float = 0.0
    cached: bool = False  # models came from the LRU
    message: str = ""


class Switchable(Protocol):
    @property
    def last_emitted(self) -> int: ...
    @property
    def components(self) -> Live2DiffComponents: ...
    def set_style(self, config: StreamConfig, prompt: str, components: Live2DiffComponents | None = None) -> Outputs: ...
    def crossfade(self, config: StreamConfig, prompt: str, frames: int, settle: Any = "rewarm") -> None: ...


def models_key(models: dict[str, Any]) -> str:
    """Equal for two styles that run on the same weights."""
    return json.dumps(models, sort_keys=True, default=str)


def park(components: Live2DiffComponents) -> Live2DiffComponents:
    """A set going into the LRU: the plain PyTorch UNet (an accelerated wrapper is bound to the old
    stream's cache), its KV-cache processors dropped (and so the cache they hold)."""
    eager = getattr(components.unet, "eager", components.unet)
    for attn, _ in temporal_attentions(eager.unet):
        attn.set_processor(AttnProcessor())
    return dataclasses.replace(components, unet=eager)


class _Load:
    """One background preparation: a daemon thread calling ``load``; ``result`` set when done."""

    def __init__(self, key: str, models: dict[str, Any], current: Live2DiffComponents, load: LoadFn) -> None:
        self.key, self.started = key, now_ns()
        self.result: Live2DiffComponents | BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(models, current, load), name="style-loader", daemon=True)
        self.thread.start()

    def _run(self, models: dict[str, Any], current: Live2DiffComponents, load: LoadFn) -> None:
        try:
            self.result = load(models, current)
        except BaseException as exc:  # noqa: BLE001 - reported as a failed switch, never kills the engine
            self.result = exc
        finally:
            self.done.set()


class StyleSwitcher:
    def __init__(self, translator: Switchable, load: LoadFn, models: dict[str, Any], cache_size: int = 2) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self.translator, self.load, self.cache_size = translator, load, cache_size
        self.current_key = models_key(models)
        self.cache: OrderedDict[str, Live2DiffComponents] = OrderedDict()  # oldest first
        self.wanted: StyleRequest | None = None
        self.loading: _Load | None = None
        self.coalesced = 0  # requests replaced by a later one before they were applied
        self._announced: int | None = None  # request_id whose "preparing" was reported

    def request(self, request: StyleRequest) -> None:
        """Ask for ``request``'s style; replaces any request not applied yet (the last one wins)."""
        if self.wanted is not None:
            self.coalesced += 1
        self.wanted = request

    def poll(self) -> list[SwitchReport]:
        """Between frames: collect a finished load, apply the wanted style if its models are ready."""
        reports: list[SwitchReport] = []
        # 1. a background load finished: cache it (or fail the request that wants it)
        load = self.loading
        if load is not None and load.done.is_set():
            self.loading = None
            reports += self._loaded(load)
        # 2. the wanted style
        request = self.wanted
        if request is None:
            return reports
        key = models_key(request.models)
        if key == self.current_key:
            reports.append(self._apply(request, None, 0.0, cached=False))
        elif key in self.cache:
            reports.append(self._apply(request, self.cache.pop(key), 0.0, cached=True))
        elif self.loading is None:
            logger.info("engine: preparing the models of style %r in the background; the current style stays on air",
                        request.name)
            self.loading = _Load(key, request.models, self.translator.components, self.load)
        if self.wanted is request and request.request_id != self._announced:
            self._announced = request.request_id
            reports.append(SwitchReport(request, "preparing"))
        return reports

    def close(self) -> None:
        """Forget prepared sets (a running load finishes on its daemon thread and is dropped)."""
        self.cache.clear()
        self.wanted = self.loading = None

    # --- steps ------------------------------------------------------------------------------------

    def _loaded(self, load: _Load) -> list[SwitchReport]:
        ms = (now_ns() - load.started) / 1e6
        if isinstance(load.result, BaseException):
            error = f"{type(load.result).__name__}: {load.result}"
            logger.error("engine: preparing style models failed after %.0f ms (%s); the current style stays", ms, error)
            request = self.wanted
            if request is not None and models_key(request.models) == load.key:
                self.wanted = None
                return [SwitchReport(request, "failed", message=error, prepare_ms=ms)]
            return []
        assert load.result is not None
        logger.info("engine: style models prepared in %.0f ms", ms)
        request = self.wanted
        if request is not None and models_key(request.models) == load.key:
            return [self._apply(request, load.result, ms, cached=False)]
        self._cache_put(load.key, load.result)  # superseded meanwhile: kept for a switch back
        return []

    def _apply(self, request: StyleRequest, components: Live2DiffComponents | None, prepare_ms: float, cached: bool) -> SwitchReport:
        self.wanted = None
        from_index = self.translator.last_emitted + 1
        previous = self.translator.components
        started = now_ns()
        if components is None and self._crossfade(request):
            logger.info("engine: style %r fading in over %d frames", request.name, request.crossfade_frames)
            return SwitchReport(request, "applied", [], from_index, prepare_ms, 0.0, cached)
        outputs = self.translator.set_style(request.config, request.prompt, components)
        rewarm_ms = (now_ns() - started) / 1e6
        if components is not None:
            self._cache_put(self.current_key, park(previous))
            self.current_key = models_key(request.models)
        logger.info("engine: style %r on air (%s, re-warm %.0f ms%s)", request.name,
                    "in place" if components is None else "cached models" if cached else f"models prepared in {prepare_ms:.0f} ms",
                    rewarm_ms, "" if outputs else "; fewer recent frames than warmup: warming up afresh")
        return SwitchReport(request, "applied", outputs, from_index, prepare_ms, rewarm_ms, cached)

    def _crossfade(self, request: StyleRequest) -> bool:
        """Start a crossfade if the request asks for one and the styles can blend (else False: cut)."""
        if request.crossfade_frames <= 0:
            return False
        try:
            self.translator.crossfade(request.config, request.prompt, request.crossfade_frames, request.settle)
        except ValueError as exc:
            logger.warning("engine: style %r cannot crossfade (%s); cutting instead", request.name, exc)
            return False
        return True

    def _cache_put(self, key: str, components: Live2DiffComponents) -> None:
        self.cache[key] = components
        self.cache.move_to_end(key)
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
            logger.info("engine: dropped a prepared model set from the style cache (holds %d)", self.cache_size)
