"""The converter process: imports TensorFlow once, then serves requests one at a time.

Started by registry.convert.converter.Converter as
`python -m registry.convert.server --read-fd R --write-fd W [--memory-limit-mb N]`.
Requests and replies travel over the two inherited pipe descriptors (protocol.py); stdout
and stderr belong to TensorFlow's chatter, which the parent keeps a tail of. The last
source converted stays loaded for the next request on the same bytes (source_cache.py).
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import resource
import sys
import time
import traceback
from typing import Any

from registry.convert import protocol
from registry.convert.contract import ConversionError, ConversionRequest
from registry.convert.source_cache import SourceCache, remove_stale_dirs


def limit_memory(megabytes: int) -> None:
    """Bound the process's private writable memory (RLIMIT_DATA).

    Not RLIMIT_AS: TensorFlow reserves large virtual ranges it never touches and fails to
    start under it. RLIMIT_DATA counts heap and anonymous mappings only (TF itself needs
    ~250 MiB of it after import); going over makes allocations fail, which surfaces as
    MemoryError or ResourceExhaustedError ("OOM when allocating"), or at worst an abort.
    """
    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def converter_versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow

    try:
        litert = importlib.metadata.version("ai-edge-litert")
    except importlib.metadata.PackageNotFoundError:
        litert = "missing"
    return {
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "ai_edge_litert": litert,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
    }


def handle(message: dict[str, Any], guard: bool, sources: SourceCache) -> Any:
    from registry.convert import pipeline

    op = message.get("op")
    if op == "convert":
        request = ConversionRequest.from_dict(message["request"])
        return pipeline.convert(request, guard, sources)
    if op == "describe":
        return pipeline.describe_source(
            message["kind"], message["path"], message.get("options") or {}, guard, sources
        )
    if op == "profile":
        from registry.convert.profiling import profile_variant

        # A profile comes once a version is ready: its source is not needed again, and a
        # model held in memory would only crowd what is measured.
        sources.drop()
        return profile_variant(**message["variant"])
    raise ConversionError(f"unknown request {op!r}")


def _forget_models() -> None:
    # Keras keeps global naming state and graphs linger in caches between requests.
    try:
        import keras

        keras.backend.clear_session()
    except Exception:  # noqa: BLE001 - cleanup must never fail a request
        pass
    gc.collect()


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def serve(read_fd: int, write_fd: int, guard: bool, memory_limit_mb: int = 0) -> int:
    from registry.convert.failures import explain

    sources = SourceCache()
    try:
        while True:
            try:
                message = protocol.receive(read_fd)
            except protocol.PipeClosed:
                return 0
            if message.get("op") == "exit":
                return 0
            started = time.monotonic()
            try:
                reply = {"ok": True, "result": handle(message, guard, sources)}
            except ConversionError as exc:
                reply = {"ok": False, "message": str(exc)}
            except Exception as exc:  # noqa: BLE001 - every failure goes back as a message
                traceback.print_exc(file=sys.stderr)
                reply = {"ok": False, "message": str(explain(exc, "handling the request"))}
            finally:
                # Past half the limit, the next request may need the room the kept source
                # takes more than it needs the source.
                if memory_limit_mb and resident_mb() > memory_limit_mb / 2:
                    sources.drop()
                _forget_models()
            reply["seconds"] = round(time.monotonic() - started, 3)
            protocol.send(write_fd, reply)
    finally:
        sources.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--read-fd", type=int, required=True)
    parser.add_argument("--write-fd", type=int, required=True)
    parser.add_argument("--memory-limit-mb", type=int, default=0)
    parser.add_argument(
        "--no-function-guard",
        action="store_true",
        help="skip the recursive-function check (only to test crash containment)",
    )
    args = parser.parse_args(argv)
    if args.memory_limit_mb:
        limit_memory(args.memory_limit_mb)
    # Must be set before TensorFlow is imported to have any effect.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    started = time.monotonic()
    from registry.convert import pipeline  # noqa: F401 - imports TensorFlow, once

    versions = converter_versions()
    remove_stale_dirs()
    # TensorFlow's import leaves millions of objects that live as long as the process; kept
    # out of every later collection, the cleanup after each request takes microseconds
    # instead of a second.
    gc.collect()
    gc.freeze()
    protocol.send(
        args.write_fd,
        {
            "ready": True,
            "pid": os.getpid(),
            "versions": versions,
            "import_seconds": round(time.monotonic() - started, 3),
        },
    )
    return serve(args.read_fd, args.write_fd, not args.no_function_guard, args.memory_limit_mb)


if __name__ == "__main__":
    sys.exit(main())
