"""The Microsoft Graph backend: a thin gateway with plain-named methods, and port adapters.

Only commands that talk to Graph import this package (it pulls in msgraph-core, kiota
and azure-identity).
"""

import sys

# httpx's package imports its command-line client (httpx._main: click, pygments, rich) only
# to offer ``httpx.main``, which nothing here calls, and falls back to a stub when that
# import fails, as it does where rich is missing (it is no dependency of ours): after
# loading click and, where installed, pygments, 5-10 ms of every Graph command's start.
# Marked absent before httpx loads, the same stub is taken at once.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: absent (import system)
