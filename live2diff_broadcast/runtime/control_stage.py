"""The control stage: takes the control bus's actions between ticks and decides what the engine gets.

Hotkeys, terminal keys, the control server and the OBS bridge post typed actions on the
ControlBus (``control/``); the sink loop calls ``tick()`` once per tick (the sink thread, so no
lock is needed). Every action is answered on its future with an ``ActionResult``:

- style actions (select / next / previous) fold into the selector's one target; after the batch
  the target is sent as one ``SetStyle`` (the last request wins), unless exactly that style is
  already requested;
- passthrough toggles the user's forced passthrough (read by the output stage);
- rewarm, blend and LoRA-fader moves are checked here (a bad one is refused with the reason, the
  engine never sees it) and sent to the engine process;
- a reloaded profile is planned (``config/reload.py``): styles live, or an engine restart, or a
  source reconnect;
- live edits (prompt, strength / t_index_list, seed, guidance) of the requested style are checked
  and kept per style (``config/live_edits.py``) and fold into the same one ``SetStyle`` per tick,
  so the engine re-encodes and re-warms (or crossfades, per the style) exactly as for a switch;
  ``revert`` drops them, ``save`` writes them into the profile file (``config/save.py``) and then
  reloads it as the watcher would (nothing is re-sent: the engine already runs it).

It owns what is on air from the controls' side: the profile, the live edits on top of it, the
requested style and the last ``SetStyle`` sent (``restart_message()`` gives a restarting engine the
current target, live edits included).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from ..config import Profile
from ..config.live_edits import LiveEditError, LiveEdits
from ..config.reload import plan_reload
from ..config.save import Saved, SaveError
from ..control.actions import (
    STYLE_ACTIONS,
    Action,
    ActionResult,
    BlendStyles,
    EditStyle,
    ProfileReloaded,
    Quit,
    ReloadProfile,
    RevertStyle,
    SaveProfile,
    SetLoraWeight,
    TogglePassthrough,
)
from ..control.actions import Rewarm as RewarmAction
from ..control.bus import ControlBus
from ..control.styles import StyleSelector
from ..engine.blend import check_blendable, check_position
from ..media.frames import now_ns
from ..weights.lora_faders import fader_index
from .engine_keeper import EngineKeeper
from .messages import MoveLoraFader, RewarmSinks, SetBlend, SetStyle, style_message
from .switch_tracker import SwitchTracker
from .telemetry import Telemetry

logger = logging.getLogger(__name__)

SaveFn = Callable[[dict[str, dict[str, Any]]], Saved]  # live edits -> the saved profile file (SaveError if not)
_REQUESTING = (*STYLE_ACTIONS, EditStyle, RevertStyle)  # actions whose result is one SetStyle at the end of a tick


class ControlStage:
    def __init__(
        self,
        profile: Profile,
        style: str,
        bus: ControlBus,
        engine: EngineKeeper,
        telemetry: Telemetry,
        switches: SwitchTracker,
        stop: Callable[[], None],
        restart_source: Callable[[], None],
        save: SaveFn | None = None,
    ) -> None:
        self.profile = profile  # the profile file's settings (live edits on top: ``running``)
        self.edits = LiveEdits()
        self._save = save  # None: the show runs without a profile file (nothing to save into)
        self.style = style  # the style requested last (what the engine shows once it is ready)
        self.forced_passthrough = False  # the user's switch: source frames instead of the AI output
        self._bus, self._engine, self._telemetry, self._switches = bus, engine, telemetry, switches
        self._stop, self._restart_source = stop, restart_source
        self._selector = StyleSelector([s.name for s in profile.styles], style)
        self._sent: SetStyle | None = None  # the last style message sent to the engine
        self._request_id = 0

    def tick(self) -> None:
        """Take every waiting action; style actions fold into one SetStyle (the last request wins)."""
        latest: Action | None = None
        for action, future in self._bus.take():
            try:
                result = self._control(action)
            except Exception as exc:  # a bad action must never stop the show
                logger.exception("control action %r failed", action)
                result = ActionResult(False, f"{type(exc).__name__}: {exc}")
            if isinstance(action, _REQUESTING) and result.ok:
                latest = action
            future.set_result(result)
        if latest is not None:
            self._request_style(latest.at_ns, latest.origin)

    @property
    def running(self) -> Profile:
        """The profile the show runs: the file's, with the live edits applied."""
        return self.edits.effective(self.profile)

    def restart_message(self) -> SetStyle:
        """The style a (re)starting engine runs: the requested target, recorded as sent."""
        self.style = self._selector.target
        self._sent = style_message(self.running, self.style)
        self._telemetry.set(blend=None)  # a new engine holds no fader
        return self._sent

    def params(self) -> dict[str, Any]:
        """The live parameters of the requested style, which of them are live edits, and whether ``save``
        has a file to write (JSON-ready, for /status and the dock)."""
        running = self.running
        style = running.style(self._selector.target)
        return {
            "style": style.name, "prompt": style.prompt, "strength": style.strength,
            "t_index_list": list(running.t_index_list(style)), "seed": style.seed, "guidance": style.guidance,
            "crossfade_frames": style.crossfade_frames, "edited": sorted(self.edits.of(style.name)),
            "live_edits": self.edits.as_dict(), "can_save": self._save is not None,
        }

    def _control(self, action: Action) -> ActionResult:
        if isinstance(action, STYLE_ACTIONS):
            return self._selector.apply(action)
        if isinstance(action, TogglePassthrough):
            on = not self.forced_passthrough if action.on is None else action.on
            if on != self.forced_passthrough:
                logger.info("passthrough %s (%s)", "ON: the camera as it is" if on else "off: AI output", action.origin)
            self.forced_passthrough = on
            self._telemetry.set(forced_passthrough=on)
            return ActionResult(True, f"passthrough {'on' if on else 'off'}", passthrough=on)
        if isinstance(action, RewarmAction):
            if not self._engine.send(RewarmSinks()):
                return ActionResult(False, "the engine is restarting; it warms up on its own")
            return ActionResult(True, f"re-warming style {self.style!r}", self.style)
        if isinstance(action, Quit):
            logger.info("quit (%s)", action.origin)
            self._stop()
            return ActionResult(True, "stopping")
        if isinstance(action, ReloadProfile):
            return self._reload(action.profile, action.path)
        if isinstance(action, BlendStyles):
            return self._blend(action)
        if isinstance(action, SetLoraWeight):
            return self._set_lora(action)
        if isinstance(action, EditStyle):
            return self._edit(action)
        if isinstance(action, RevertStyle):
            fields = self.edits.revert(self._selector.target)
            if not fields:
                return ActionResult(True, f"style {self._selector.target!r} has no live edits", self._selector.target)
            return ActionResult(True, f"style {self._selector.target!r} back to the profile ({', '.join(fields)} reverted)",
                                self._selector.target)
        if isinstance(action, SaveProfile):
            return self._save_edits()
        raise TypeError(f"unknown control action {action!r}")

    def _edit(self, action: EditStyle) -> ActionResult:
        """A live edit of the requested style; refused with the reason when the profile could not hold it."""
        name = self._selector.target
        try:
            style = self.edits.set(self.profile, name, action.field, action.value)
        except LiveEditError as exc:
            return ActionResult(False, f"{action.field} refused: {exc}", name)
        shown = list(action.value) if isinstance(action.value, tuple) else action.value
        how = f"crossfade over {style.crossfade_frames} frames" if style.crossfade_frames else "re-warm"
        logger.info("live edit (%s): style %r %s = %r", action.origin, name, action.field, shown)
        return ActionResult(True, f"style {name!r}: {action.field} = {shown!r} (live, {how}; 'save' keeps it)", name)

    def _save_edits(self) -> ActionResult:
        """Write the live edits into the profile file, then take the file as reloaded (nothing re-sent)."""
        if self._save is None:
            return ActionResult(False, "this show runs the built-in profile (no --profile file): there is no file to "
                                "save into; start it with --profile FILE", self.style)
        edits = {name: self.edits.of(name) for name in self.edits.edits}
        if not edits:
            return ActionResult(False, "nothing to save: no live edits (the profile already holds what runs)", self.style)
        try:
            saved = self._save(edits)
        except SaveError as exc:
            logger.error("%s", exc)
            return ActionResult(False, str(exc), self.style)
        self.edits.saved(list(edits))
        self._reload(saved.profile, str(saved.path), saved=tuple(edits))
        return ActionResult(True, f"saved to {saved.path}: " + "; ".join(saved.lines), self._selector.target)

    def _set_lora(self, action: SetLoraWeight) -> ActionResult:
        """A LoRA fader of the style on air; an unknown name or a weight outside [0, 1] is refused."""
        try:
            weight = check_position(action.weight)
        except ValueError:
            return ActionResult(False, f"LoRA weight must be a number in [0, 1], got {action.weight!r}")
        names = self._lora_names()
        if fader_index(names, action.name) is None:
            listed = ", ".join(names) or ("none (the tiny preset loads no LoRAs)" if self.profile.models.preset == "tiny" else "none")
            return ActionResult(False, f"no LoRA named {action.name!r} in style {self.style!r}; its LoRAs: {listed}", self.style)
        if not self._engine.send(MoveLoraFader(action.name, weight)):
            return ActionResult(False, "the engine is restarting")
        return ActionResult(True, f"LoRA {action.name!r} -> {weight:.2f} sent to the engine", self.style)

    def _lora_names(self) -> list[str]:
        """The fader names of the style LoRAs of the style on air (none under the tiny preset)."""
        if self.profile.models.preset == "tiny":
            return []
        return [lora.fader_name for lora in self.profile.models_for(self.profile.style(self.style)).loras]

    def _blend(self, action: BlendStyles) -> ActionResult:
        """A fader between two styles on the models on air; anything else is refused with the reason."""
        names = [s.name for s in self.profile.styles]
        for name in (action.a, action.b):
            if name not in names:
                return ActionResult(False, f"no style named {name!r}; styles: {', '.join(names)}", self.style)
        try:
            t = check_position(action.t)
            a, b = style_message(self.running, action.a), style_message(self.running, action.b)
            check_blendable(a.config, b.config)
        except ValueError as exc:
            return ActionResult(False, str(exc), self.style)
        on_air = self._sent
        if on_air is None or a.models != on_air.models or b.models != on_air.models:
            return ActionResult(False, f"blend {action.a!r}/{action.b!r}: both styles must run on the models of the "
                                f"style on air ({self.style!r}); switch to one of them first", self.style)
        if not self._engine.send(SetBlend(a, b, t)):
            return ActionResult(False, "the engine is restarting", self.style)
        self._telemetry.set(blend={"a": action.a, "b": action.b, "t": t})
        return ActionResult(True, f"blend {action.a!r} -> {action.b!r} at {t:.2f}", self.style)

    def _request_style(self, at_ns: int, origin: str) -> None:
        """Send the selector's target to the engine unless that exact style is already requested."""
        message = style_message(self.running, self._selector.target, self._request_id + 1, at_ns)
        sent = self._sent
        if sent is not None and (sent.name, sent.prompt, sent.config, sent.models) == (
            message.name, message.prompt, message.config, message.models
        ):
            return
        self._telemetry.set(blend=None)  # a switch (or a live edit) ends any held fader in the engine
        self._request_id += 1
        self.style, self._sent = message.name, message
        self._switches.requested(message.name, message.request_id, at_ns, origin)
        logger.info("style %r requested (%s)", message.name, origin)
        self._engine.send(message)  # a restarting engine starts in the target style anyway

    def _reload(self, new: Profile, path: str, saved: tuple[str, ...] = ()) -> ActionResult:
        """A new profile (an edit, or our own ``save`` of the live edits of the styles ``saved``)."""
        plan = plan_reload(self.profile, new)
        ours = tuple(f"style {name!r}:" for name in saved)
        for line in plan.lines:  # a saved style's change is what already runs: not news
            if not (ours and (line.startswith(ours) or line == "no change")):
                logger.info("profile %s reloaded: %s", path, line)
        for line in self.edits.reconcile(self.profile, plan.profile):
            logger.info("profile %s reloaded: %s", path, line)
        self.profile = plan.profile
        self._selector.update_names([s.name for s in plan.profile.styles])
        if plan.restart_engine:
            self._engine.restart("profile changed")
        else:
            self._request_style(now_ns(), "reload")  # nothing if the style on air is unchanged
        if plan.restart_source:
            self._restart_source()
        self._bus.publish(ProfileReloaded(path, plan.lines))
        return ActionResult(True, "; ".join(plan.lines), self._selector.target)
