"""A server process's start-up heap, set aside once it is built, so the garbage collector stops walking it.

The app's start-up objects — templates, catalogs, SQLAlchemy's tables and compiled statements, the policies — live
as long as the process. Left in the collector's generations, every full collection walks all of them: 85–90 ms in a
web worker at this heap, landing on one request in several hundred (docs/performance.md, "Pages"). `gc.freeze()`
moves them to a permanent generation the collector ignores (the pattern the Python docs give for pre-fork servers);
the same collection then takes about 5 ms. Objects made later are collected as before.
"""

from __future__ import annotations

import gc


def freeze_start_up_heap() -> None:
    """Collect what start-up left behind, then freeze everything still alive: call once the app is loaded."""
    gc.collect()
    gc.freeze()
