"""Server-side copy of a large object as parallel UploadPartCopy ranges."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any

from .multipart_upload import MAX_PARTS, MultipartUpload


def copy_in_ranges(
    upload: MultipartUpload,
    source_key: str,
    size: int,
    part_size: int,
    pool: ThreadPoolExecutor,
    parts_in_flight: int,
) -> None:
    """Fill and complete `upload` with `source_key`'s bytes, or abort it."""
    part = max(part_size, -(-size // MAX_PARTS))
    ranges = [
        (i + 1, source_key, start, min(size, start + part) - 1)
        for i, start in enumerate(range(0, size, part))
    ]
    try:
        parts = run_bounded(upload.copy_part, ranges, pool, parts_in_flight)
        upload.complete(parts)
    except BaseException:
        upload.abort()
        raise


def run_bounded(
    fn: Callable[..., Any], calls: list[tuple], pool: ThreadPoolExecutor, limit: int
) -> list[Any]:
    """fn(*args) for every args in calls on `pool`, at most `limit` at once, results in order.

    After a failure nothing more is started; the first error is raised once the rest ended.
    """
    slots = threading.BoundedSemaphore(limit)
    failed = threading.Event()
    futures: list[Future] = []

    def done(f: Future) -> None:
        slots.release()
        if f.cancelled() or f.exception() is not None:
            failed.set()

    try:
        for args in calls:
            slots.acquire()
            if failed.is_set():
                slots.release()
                break
            f = pool.submit(fn, *args)
            f.add_done_callback(done)
            futures.append(f)
    finally:
        wait_futures(futures)
    for f in futures:
        if f.exception() is not None:
            raise f.exception()  # type: ignore[misc]
    return [f.result() for f in futures]
