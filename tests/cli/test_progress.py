"""The transfer progress bar: what it shows, and that it is drawn on a terminal only."""

from __future__ import annotations

import io

from registry.cli.progress import TransferProgress

MiB = 1024**2


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def last_frame(terminal: Terminal) -> str:
    return terminal.getvalue().split("\r")[-1]


def test_progress_on_a_terminal_ends_with_the_full_transfer_and_a_new_line():
    terminal = Terminal()

    with TransferProgress("upload digits", terminal) as progress:
        progress(10 * MiB, 40 * MiB)
        progress(40 * MiB, 40 * MiB)

    frame = last_frame(terminal)
    assert frame.startswith("upload digits: 100%")
    assert "40.0M/40.0M" in frame  # bytes in binary units
    assert frame.endswith("B/s]\n")


def test_open_ended_transfer_shows_the_bytes_so_far():
    terminal = Terminal()

    with TransferProgress("export digits", terminal) as progress:
        progress(3 * MiB, None)

    assert last_frame(terminal).startswith("export digits: 3.00MB [")


def test_progress_is_silent_when_piped():
    pipe = io.StringIO()

    with TransferProgress("upload digits", pipe) as progress:
        progress(1, 2)

    assert pipe.getvalue() == ""
