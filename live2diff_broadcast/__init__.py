"""live2diff_broadcast: Live2Diff video restyling as a live camera for streamers."""

__version__ = "0.1.0"
