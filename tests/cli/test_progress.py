"""The transfer progress line: what it shows, and that it is drawn on a terminal only."""

from __future__ import annotations

import io

from registry.cli.progress import TransferProgress, render


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_shows_bytes_share_rate_and_time_left():
    line = render("upload digits", 10 * 1024**2, 40 * 1024**2, elapsed=2.0)

    assert line.startswith("upload digits  10 MiB/40 MiB   25% [######..................]")
    assert line.endswith("5 MiB/s  ETA 0:06")


def test_finished_and_open_ended_transfers_show_what_is_known():
    assert render("fetch", 40 * 1024**2, 40 * 1024**2, elapsed=8.0).endswith("in 0:08")
    assert render("export", 3 * 1024**2, None, elapsed=1.0) == "export  3 MiB  3 MiB/s"


def test_progress_is_drawn_on_a_terminal_and_silent_when_piped():
    ticks = iter([0.0, 1.0, 1.01, 2.0])
    terminal, pipe = Terminal(), io.StringIO()

    with TransferProgress("upload m", terminal, clock=lambda: next(ticks)) as progress:
        progress(1024**2, 2 * 1024**2)
        progress(1024**2 + 1, 2 * 1024**2)  # 10 ms later: not redrawn
        progress(2 * 1024**2, 2 * 1024**2)
    with TransferProgress("upload m", pipe) as quiet:
        quiet(1, 2)

    frames = terminal.getvalue().split("\r")[1:]
    assert len(frames) == 3  # two draws, and the last state again when it ends
    assert "1 MiB/2 MiB" in frames[0] and frames[-1].rstrip().endswith("in 0:02")
    assert terminal.getvalue().endswith("\n")
    assert pipe.getvalue() == ""
