"""The Converter: a long-lived converter process, replaced when it crashes or hangs.

TensorFlow is imported once per process (3-6 s), so one process serves many requests. It
can also segfault on hostile input (docs/conversion.md §9), so it never runs in the caller's
process: a crash, a timeout or a memory overrun costs one request, and the next request
gets a fresh process.

Memory is bounded twice: the process sets RLIMIT_DATA on itself (allocations past the
limit fail inside TensorFlow, which reports them), and while a request runs the parent
polls the process's resident size and kills it if it grows past the limit plus a margin
for TensorFlow's shared-library pages, which RLIMIT_DATA does not count.
"""

from __future__ import annotations

import collections
import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path
from typing import Any, NoReturn

from registry.convert import protocol
from registry.convert.contract import (
    ConversionError,
    ConversionRequest,
    ConversionResult,
    ConverterCrashed,
    ConverterOutOfMemory,
    ConverterTimeout,
    check_options,
    check_request,
)

_PROJECT_ROOT = Path(__file__).resolve().parents[2]
_POLL_SECONDS = 0.1
RSS_MARGIN_MB = 512
# Beyond twice a profile's time bound: reading the variant and answering.
PROFILE_MARGIN_SECONDS = 30
_TAIL_LINES = 200


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()  # SIGKILL to this one pid: a hung TF process ignores gentler signals
    process.wait()


class _Process:
    """One running converter process and the pipes to it."""

    def __init__(self, memory_limit_mb: int | None, guard: bool):
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(_PROJECT_ROOT), env.get("PYTHONPATH")])
        )
        command = [
            sys.executable,
            "-m",
            "registry.convert.server",
            "--read-fd",
            str(to_child_r),
            "--write-fd",
            str(from_child_w),
            "--memory-limit-mb",
            str(memory_limit_mb or 0),
        ]
        if not guard:
            command.append("--no-function-guard")
        self.popen = subprocess.Popen(
            command,
            pass_fds=(to_child_r, from_child_w),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            # Its own session: a terminal's Ctrl-C goes to the caller, which decides.
            start_new_session=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.lines_seen = 0
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        self.ready: dict[str, Any] = {}

    def _read_output(self) -> None:
        assert self.popen.stdout is not None
        for raw in self.popen.stdout:
            self.tail.append(raw.decode("utf-8", "replace").rstrip()[:500])
            self.lines_seen += 1

    def drain(self) -> None:
        """Wait (briefly) until the output of an exited process has all been read."""
        self._reader.join(timeout=2)

    def output_since(self, mark: int, lines: int = 8) -> str:
        new = list(self.tail)[-max(0, min(self.lines_seen - mark, len(self.tail))) :]
        useful = [line for line in new if line.strip()][-lines:]
        return "\n".join(useful)

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.popen.pid}/statm") as statm:
                pages = int(statm.read().split()[1])
        except (OSError, ValueError, IndexError):
            return 0.0
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20

    def wait_readable(self, seconds: float) -> bool:
        readable, _, _ = select.select([self.from_child], [], [], seconds)
        return bool(readable)

    def stop(self, gracefully: bool) -> None:
        if gracefully and self.popen.poll() is None:
            try:
                protocol.send(self.to_child, {"op": "exit"})
                self.popen.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _kill(self.popen)
        for fd in (self.to_child, self.from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._reader.join(timeout=2)


class Converter:
    """A long-lived converter subprocess (TF imported once), replaced when it crashes.

    Thread-safe: requests are served one at a time. `timeout_seconds` bounds each request,
    not the process start (`startup_timeout_seconds`). `memory_limit_mb=None` sets no limit.
    `guard_recursive_functions=False` lets a self-recursive function library reach
    TensorFlow (which then segfaults); it exists to test crash containment.
    """

    def __init__(
        self,
        timeout_seconds: float = 600,
        memory_limit_mb: int | None = 8192,
        *,
        startup_timeout_seconds: float = 180,
        guard_recursive_functions: bool = True,
    ):
        self.timeout_seconds = timeout_seconds
        self.memory_limit_mb = memory_limit_mb
        self.startup_timeout_seconds = startup_timeout_seconds
        self.guard_recursive_functions = guard_recursive_functions
        self._process: _Process | None = None
        # The finalizer holds the live process, never the Converter, so it can stop it.
        self._holder: list[_Process | None] = [None]
        weakref.finalize(self, Converter._stop_process, self._holder)
        self._lock = threading.Lock()
        self.starts = 0
        self.last_start_seconds: float | None = None

    # -- public API -------------------------------------------------------------------

    def convert(self, request: ConversionRequest) -> ConversionResult:
        """Produce the requested variant; raise ConversionError (or a subclass) if it can't."""
        check_request(request)
        what = (
            f"converting {request.source_kind} to {request.target_kind} "
            f"({Path(request.source_path).name})"
        )
        reply, versions = self._call({"op": "convert", "request": request.to_dict()}, what)
        return ConversionResult(converter_versions=versions, **reply)

    def describe(self, kind: str, path: str, options: dict) -> dict:
        """The signature of an upload: {inputs, outputs, signatures, ...}."""
        check_options(options or {})
        message = {"op": "describe", "kind": kind, "path": str(path), "options": options or {}}
        return self._call(message, f"describing {kind} ({Path(path).name})")[0]

    def profile(
        self,
        kind: str,
        path: str,
        *,
        facts: dict | None = None,
        options: dict | None = None,
        example_inputs_path: str | None = None,
        time_bound_seconds: float = 60,
    ) -> dict:
        """Size, load time and single-thread latency of one variant (see profiling.py), with
        the runtime versions. The runs stop at `time_bound_seconds`; a process that does not
        answer within twice that and a margin is stopped."""
        variant = {
            "kind": kind,
            "path": str(path),
            "facts": facts or {},
            "options": options or {},
            "example_inputs_path": example_inputs_path,
            "time_bound_seconds": time_bound_seconds,
        }
        what = f"profiling {kind} ({Path(path).name})"
        profile, versions = self._call(
            {"op": "profile", "variant": variant},
            what,
            timeout_seconds=2 * time_bound_seconds + PROFILE_MARGIN_SECONDS,
        )
        return {**profile, "versions": versions}

    @property
    def versions(self) -> dict[str, str]:
        """tensorflow, keras, ai_edge_litert, numpy and python versions of the process."""
        with self._lock:
            return dict(self._ensure_process().ready["versions"])

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.popen.pid if process and process.popen.poll() is None else None

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                self._process.stop(gracefully=True)
                self._process = self._holder[0] = None

    def __enter__(self) -> Converter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- process management -----------------------------------------------------------

    @staticmethod
    def _stop_process(holder: list) -> None:
        if holder[0] is not None:
            holder[0].stop(gracefully=False)

    def _discard(self) -> None:
        if self._process is not None:
            self._process.stop(gracefully=False)
            self._process = self._holder[0] = None

    def _ensure_process(self) -> _Process:
        if self._process is not None and self._process.popen.poll() is None:
            return self._process
        self._discard()
        started = time.monotonic()
        process = _Process(self.memory_limit_mb, self.guard_recursive_functions)
        self._process = self._holder[0] = process
        if not process.wait_readable(self.startup_timeout_seconds):
            tail = process.output_since(0)
            self._discard()
            raise ConverterTimeout(
                f"the converter did not start within {self.startup_timeout_seconds:g}s"
                + _with(tail)
            )
        try:
            process.ready = protocol.receive(process.from_child)
        except protocol.PipeClosed:
            process.popen.wait()
            process.drain()
            code = process.popen.returncode
            tail = process.output_since(0)
            self._discard()
            raise ConverterCrashed(
                f"the converter failed to start (exit {code})" + _with(tail)
            ) from None
        self.starts += 1
        self.last_start_seconds = round(time.monotonic() - started, 3)
        return process

    def _call(
        self, message: dict[str, Any], what: str, timeout_seconds: float | None = None
    ) -> tuple[Any, dict[str, str]]:
        """Send one request and wait for its reply: (result, the process's versions).
        `timeout_seconds` bounds this request instead of the converter's own timeout."""
        with self._lock:
            process = self._ensure_process()
            mark = process.lines_seen
            try:
                protocol.send(process.to_child, message)
            except OSError:
                self._crashed(process, what, mark)
            timeout = timeout_seconds or self.timeout_seconds
            reply = self._await_reply(process, what, mark, timeout)
        if not reply.get("ok"):
            message = reply.get("message") or "conversion failed"
            if "ran out of memory" in message and self.memory_limit_mb:
                message += f" (limit: {self.memory_limit_mb} MiB)"
            raise ConversionError(message)
        return reply["result"], dict(process.ready["versions"])

    def _await_reply(
        self, process: _Process, what: str, mark: int, timeout_seconds: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_seconds
        rss_limit = (self.memory_limit_mb + RSS_MARGIN_MB) if self.memory_limit_mb else None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._discard()
                raise ConverterTimeout(
                    f"the converter took longer than {timeout_seconds:g}s {what} and was "
                    "stopped; the model may be too large for this worker, or the input malformed"
                )
            if process.wait_readable(min(_POLL_SECONDS, remaining)):
                try:
                    return protocol.receive(process.from_child)
                except protocol.PipeClosed:
                    return self._crashed(process, what, mark)
            if process.popen.poll() is not None:
                return self._crashed(process, what, mark)
            if rss_limit and process.rss_mb() > rss_limit:
                self._discard()
                raise ConverterOutOfMemory(
                    f"the converter went over its memory limit ({self.memory_limit_mb} MiB) "
                    f"{what} and was stopped"
                )

    def _crashed(self, process: _Process, what: str, mark: int) -> NoReturn:
        process.popen.wait()
        process.drain()
        code = process.popen.returncode
        tail = process.output_since(mark)
        self._discard()
        if code is not None and code < 0:
            cause = f"signal {-code} ({_signal_name(-code)})"
            if -code in (signal.SIGABRT, signal.SIGKILL) and self.memory_limit_mb:
                cause += f", possibly out of memory (limit {self.memory_limit_mb} MiB)"
        else:
            cause = f"exit status {code}"
        raise ConverterCrashed(f"converter crashed: {cause} while {what}" + _with(tail))


def _with(tail: str) -> str:
    return f"; last output:\n{tail}" if tail else ""
