"""A one-line progress bar for transfers on stderr: bytes, share, rate and time left.

Drawn only when stderr is a terminal; piped or redirected, a transfer stays quiet.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from registry.archives.limits import human_bytes

BAR_WIDTH = 24
REDRAW_SECONDS = 0.1


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def render(label: str, done: int, total: int | None, elapsed: float) -> str:
    """`upload digits  12.5/40 MiB  31% [#######.................]  8.3 MiB/s  ETA 0:03`.

    With an unknown total only the bytes so far and the rate are shown.
    """
    rate = done / elapsed if elapsed > 0 else 0.0
    speed = f"{human_bytes(int(rate))}/s"
    if not total:
        return f"{label}  {human_bytes(done)}  {speed}"
    share = min(done / total, 1.0)
    filled = int(share * BAR_WIDTH)
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    if done >= total:
        tail = f"in {_duration(elapsed)}"
    else:
        tail = f"ETA {_duration((total - done) / rate)}" if rate > 0 else "ETA -:--"
    sizes = f"{human_bytes(done)}/{human_bytes(total)}"
    return f"{label}  {sizes}  {share:4.0%} [{bar}]  {speed}  {tail}"


class TransferProgress:
    """A callable `progress(done, total)` for the client that redraws one line at most 10x/s."""

    def __init__(
        self,
        label: str,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._last: tuple[int, int | None] = (0, None)
        self._last_at = self._started
        self._width = 0

    def __call__(self, done: int, total: int | None) -> None:
        now = self._clock()
        self._last, self._last_at = (done, total), now
        if self.enabled and (self._drawn_at is None or now - self._drawn_at >= REDRAW_SECONDS):
            self._draw(now)

    def _draw(self, now: float) -> None:
        line = render(self.label, *self._last, now - self._started)
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width, self._drawn_at = len(line), now

    def __enter__(self) -> TransferProgress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Draw the final state and end the line, so what follows starts on its own."""
        if self.enabled and self._drawn_at is not None:
            self._draw(self._last_at)  # the rate and time of the transfer, not of the reply
            self.stream.write("\n")
            self.stream.flush()
