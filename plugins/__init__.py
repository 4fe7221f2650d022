"""Built-in sources and sinks, registered through entry points exactly like third-party plugins.

Sources: ``test_pattern``, ``file``, ``camera``, ``ndi``.
Sinks: ``virtualcam``, ``ndi``, ``file``, ``preview``.
"""
