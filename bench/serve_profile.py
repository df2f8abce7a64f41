"""``llmring serve`` under cProfile, switched on and off by ``SIGUSR1`` (for ``bench/serve.py``).

    python bench/serve_profile.py OUT.prof serve --port P ...

Runs the ``llmring`` CLI with the rest of the arguments. The first ``SIGUSR1`` starts profiling
the main thread (the event loop's, where a one-worker server does its work per request), the
second stops and writes the stats to ``OUT.prof``, so start-up and warm-up stay out of it. The
receipt writer's thread is not profiled: its cost shows as the GIL it takes from the loop.
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType

OUT = sys.argv.pop(1)
PROFILE = cProfile.Profile()
ON = [False]


def toggle(signum: int, frame: FrameType | None) -> None:
    if not ON[0]:
        PROFILE.enable()
    else:
        PROFILE.disable()
        PROFILE.dump_stats(OUT)
    ON[0] = not ON[0]


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, toggle)
    sys.argv[0] = "llmring"
    from llmring.cli import main

    main()
