"""Process trees the benchmarks watch: CPU seconds used and peak resident memory, from /proc."""

from __future__ import annotations

import os
import threading
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree(root: int) -> list[int]:
    """`root` and every live descendant."""
    found, pending = [], [root]
    while pending:
        pid = pending.pop()
        found.append(pid)
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        pending += map(int, children)
    return found


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of the tree: its live processes and the children they reaped."""
    ticks = 0
    for pid in tree(root):
        try:
            # Fields after the command name (which may hold spaces): utime is the 14th field.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class RssSampler:
    """Peak resident memory of a process tree, sampled every 50 ms: of its largest process,
    or (`whole_tree`) of all of them together."""

    def __init__(self, root_pid: int, *, whole_tree: bool = False) -> None:
        self.root_pid = root_pid
        self.whole_tree = whole_tree
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current_kib(self) -> int:
        sizes = [rss_kib(pid) for pid in tree(self.root_pid)]
        return sum(sizes) if self.whole_tree else max(sizes)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak_kib = max(self.peak_kib, self.current_kib())

    def __enter__(self) -> RssSampler:
        self.peak_kib = self.current_kib()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
