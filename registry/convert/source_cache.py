"""The source a converter process keeps between requests, with what it derived from it.

A version's conversion jobs (savedmodel, frozen_pb, tflite) reach a worker's converter one
after another, each with its own copy of the same upload. Loading a large Keras model,
exporting it as a SavedModel and running it on the parity inputs would be the same work
each time, so the process keeps the last source it loaded, keyed by the sha256 of its
bytes, its kind, its options and the recursion guard, together with:

- the SavedModels exported from it, by input shapes (hard-linked copies in a directory of
  the process's own, so the job that exported one may pack and delete its own);
- its outputs on each set of inputs it was run on, by the inputs' bytes, so the parity
  checks of all its variants (and their sensitivity probes) run the source once per input.

Only sources that need none of their files once loaded are kept (a Keras model, a frozen
GraphDef: `self_contained`), and one at most. It is dropped when another source arrives,
when a request on it fails, when the process's resident size passes half its memory limit
(server.py), and before a profile. A crash takes it with the process, so the next job
starts again from the bytes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

DIR_PREFIX = "registry-converter-"
# Input sets whose source outputs are remembered: one per variant precision and its probe.
MAX_REMEMBERED_RUNS = 8

Export = TypeVar("Export")


def file_digest(path: Path) -> str:
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def feeds_digest(feeds: dict[str, np.ndarray]) -> str | None:
    """sha256 over input names, dtypes, shapes and bytes; None for object arrays."""
    digest = hashlib.sha256()
    for name in sorted(feeds):
        value = np.ascontiguousarray(feeds[name])
        if value.dtype.kind == "O":
            return None
        digest.update(f"{name}\0{value.dtype.str}\0{value.shape}\0".encode())
        digest.update(value.data)
    return digest.hexdigest()


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(src, dst)


def link_tree(src: Path, dst: Path) -> None:
    """A copy of the tree `src` at `dst` (which may be an empty directory), its files hard
    links where the file system allows. Nothing writes into an export once it is written,
    so the copies may share their bytes."""
    shutil.copytree(src, dst, copy_function=_link_or_copy, dirs_exist_ok=True)


class RememberingRunner:
    """A source's runner that answers inputs it has run before from memory.

    The remembered arrays are read-only, so a caller changing one in place fails instead of
    changing what the next parity check compares with.
    """

    def __init__(self, runner: Any, remembered: dict[str, dict[str, np.ndarray]]):
        self._runner, self._remembered = runner, remembered
        self.inputs, self.outputs = runner.inputs, runner.outputs

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        key = feeds_digest(feeds)
        if key is not None and key in self._remembered:
            return self._remembered[key]
        outputs = self._runner.run(feeds)
        if key is not None and len(self._remembered) < MAX_REMEMBERED_RUNS:
            outputs = {name: np.array(value) for name, value in outputs.items()}
            for value in outputs.values():
                value.setflags(write=False)
            self._remembered[key] = outputs
        return outputs

    def close(self) -> None:
        """Nothing: the source owns its runner and closes it."""


class LoadedSource:
    """A loaded source, with the SavedModels exported from it and its remembered outputs."""

    def __init__(self, source: Any, key: str | None):
        self.source, self.key = source, key
        self.kept = key is not None and bool(getattr(source, "self_contained", False))
        self._dir: Path | None = None
        self._exports: dict[str, Any] = {}
        self._remembered: dict[str, dict[str, np.ndarray]] = {}

    def runner(self) -> RememberingRunner:
        return RememberingRunner(self.source.runner(), self._remembered)

    def export(
        self,
        input_shapes: dict[str, list[int]] | None,
        place: Path,
        build: Callable[[Path], Export],
    ) -> Export:
        """The SavedModel exported for `input_shapes`: one exported before from this source,
        else `build(place)`'s, whose directory a kept source keeps a linked copy of.

        `build` returns a dataclass with the export's directory in `dir`.
        """
        key = json.dumps(input_shapes or {}, sort_keys=True)
        if key in self._exports:
            return self._exports[key]
        export = build(place)
        if self.kept:
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-"))
            copy = self._dir / f"savedmodel-{len(self._exports)}"
            link_tree(place, copy)
            self._exports[key] = dataclasses.replace(export, dir=copy)
        return export

    def close(self) -> None:
        self._remembered.clear()
        self._exports.clear()
        try:
            self.source.close()
        finally:
            if self._dir is not None:
                shutil.rmtree(self._dir, ignore_errors=True)
                self._dir = None


class SourceCache:
    """At most one kept source (see the module's docstring)."""

    def __init__(self) -> None:
        self.held: LoadedSource | None = None

    @contextlib.contextmanager
    def loaded(
        self,
        kind: str,
        path: str | Path,
        options: dict[str, Any],
        guard: bool,
        open_source: Callable[..., Any],
    ) -> Iterator[LoadedSource]:
        """The source at `path`, kept from an earlier request on the same bytes and options
        or opened with `open_source(kind, path, options, guard)`. A failure in the body
        drops it; a source that is not kept is closed at the end."""
        path = Path(path)
        # A directory's source (SavedModel, checkpoint) reads its files after loading, so it is
        # never kept: no key, and its tree is not hashed for nothing.
        key = None
        if path.is_file():
            identity = {"kind": kind, "options": options, "guard": guard}
            key = json.dumps({**identity, "bytes": file_digest(path)}, sort_keys=True)
        if key is not None and self.held is not None and self.held.key == key:
            entry = self.held
        else:
            self.drop()
            entry = LoadedSource(open_source(kind, path, options, guard), key)
        try:
            yield entry
        except BaseException:
            self.held = None
            entry.close()
            raise
        if entry.kept:
            self.held = entry
        else:
            entry.close()

    def drop(self) -> None:
        held, self.held = self.held, None
        if held is not None:
            held.close()


def remove_stale_dirs() -> None:
    """Remove the export directories of converter processes that died without cleaning up."""
    for path in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*"):
        pid = path.name.removeprefix(DIR_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass
