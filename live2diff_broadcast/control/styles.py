"""Which style is requested: SelectStyle / NextStyle / PreviousStyle folded into one target.

Next / previous move from the latest REQUESTED style (not the one on air), so pressing "next"
three times quickly lands three styles on, even while the first switch is still loading. The
consumer sends the engine only the final target of a batch: the last request wins.
"""

from __future__ import annotations

from .actions import Action, ActionResult, NextStyle, PreviousStyle, SelectStyle


class StyleSelector:
    def __init__(self, names: list[str], current: str) -> None:
        self.names: list[str] = []
        self.target = current
        self.update_names(names)

    def update_names(self, names: list[str]) -> None:
        """The profile's styles changed (reload); a target that disappeared becomes the first style."""
        if not names:
            raise ValueError("a profile needs at least one style, got none")
        self.names = list(names)
        if self.target not in self.names:
            self.target = self.names[0]

    def apply(self, action: Action) -> ActionResult:
        """Fold one style action into ``target``; an unknown name is refused, naming the styles."""
        if isinstance(action, SelectStyle):
            if action.name not in self.names:
                return ActionResult(False, f"no style named {action.name!r}; styles: {', '.join(self.names)}", self.target)
            self.target = action.name
        elif isinstance(action, NextStyle | PreviousStyle):
            step = 1 if isinstance(action, NextStyle) else -1
            self.target = self.names[(self.names.index(self.target) + step) % len(self.names)]
        else:
            raise TypeError(f"StyleSelector takes SelectStyle, NextStyle or PreviousStyle, got {action!r}")
        return ActionResult(True, f"style {self.target!r} requested", self.target)
