"""A progress bar for transfers on stderr (tqdm): bytes, share, rate and time left.

Drawn only when stderr is a terminal; piped or redirected, a transfer stays quiet.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm


class TransferProgress:
    """A callable `progress(done, total)` for the client, drawing one bar at most 10x/s."""

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self._bar = tqdm(
            desc=label,
            file=stream or sys.stderr,
            disable=None,  # tqdm's own rule: off unless the stream is a terminal
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            mininterval=0.1,
        )

    def __call__(self, done: int, total: int | None) -> None:
        if total != self._bar.total:  # a total becomes known, or an export has none
            self._bar.total = total
        self._bar.update(done - self._bar.n)

    def __enter__(self) -> TransferProgress:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        """Draw the final state and end the line, so what follows starts on its own."""
        self._bar.close()
