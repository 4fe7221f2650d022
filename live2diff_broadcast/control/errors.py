"""CommandError: a control command (text line or OSC message) that is not valid; shared by every parser."""

from __future__ import annotations


class CommandError(ValueError):
    """A command that is not one of the commands; the message says what was expected."""
