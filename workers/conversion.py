"""Running one conversion job: fetch the source, convert, store the variant, record it all.

The job's steps and their units of work live here, in the worker; what each step records is
the domain's (`registry.domain.jobs`).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import platform
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from registry.archives.directories import extract_archive, pack_directory
from registry.archives.limits import ArchiveLimits
from registry.convert import ConversionError, ConversionRequest, ConversionResult, Converter
from registry.convert.contract import OPTION_KEYS
from registry.db.models import Artifact, ConversionJob, ModelVersion
from registry.domain import jobs
from registry.domain.catalog import compatibility
from registry.domain.catalog.uploads import write_blob
from registry.domain.jobs.statistics import JobSummary
from registry.settings import Settings
from registry.storage import BlobNotFound, Storage, StorageError
from registry.vocabulary import EXAMPLE_INPUTS_KIND, PROFILE
from workers.kept_bytes import KeptBytes

log = logging.getLogger(__name__)

KNOWN_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb", ".tflite", ".zip", ".tgz", ".gz")
# The database could not be reached (refused, dropped, timed out, no pooled connection).
DATABASE_UNREACHABLE = (OperationalError, InterfaceError, PoolTimeout)
# Waits between tries of a step that could not reach the database or storage.
FIRST_WAIT_SECONDS = 0.5
LONGEST_WAIT_SECONDS = 10.0

T = TypeVar("T")


class AttemptSuperseded(Exception):
    """This worker's attempt no longer holds its job: the lease ran out and another took it."""


def worker_name(pid: int | None = None) -> str:
    """How a worker process is named on the jobs it claims: host and process id."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def converter_versions() -> dict[str, str]:
    """Versions that decide a conversion's output, read without importing TensorFlow."""
    versions = {"python": platform.python_version()}
    for name, dists in {
        "registry": ["tf-model-registry"],
        "tensorflow": ["tensorflow-cpu", "tensorflow"],
        "ai_edge_litert": ["ai-edge-litert"],
    }.items():
        for dist in dists:
            try:
                versions[name] = metadata.version(dist)
                break
            except metadata.PackageNotFoundError:
                continue
    return versions


def cache_key(
    source_sha256: str,
    example_inputs_sha256: str | None,
    target: str,
    options: dict,
    versions: dict,
) -> str:
    """Same source, parity inputs, target, options and converter versions: same result."""
    material = json.dumps(
        [source_sha256, example_inputs_sha256, target, options, versions], sort_keys=True
    )
    return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class ClaimedJob:
    """What an attempt needs, read in the unit of work that claimed the job."""

    id: int
    target: str
    options: dict
    source: Artifact
    examples: Artifact | None
    summary: JobSummary
    # A profile job's artifacts still to measure once those whose bytes were measured before
    # took that profile over, and the version's options (an upload is read with them).
    unmeasured: list[Artifact] = field(default_factory=list)
    version_options: dict = field(default_factory=dict)
    # The claim itself finished the job: a profile job with nothing left to measure.
    finished: bool = False


@dataclass(frozen=True)
class Made:
    """What an attempt made: the job's outcome, and a described upload's signature."""

    outcome: dict
    signature: dict | None = None


@dataclass(frozen=True)
class JobRun:
    """How a delivery of a job ended, and (when it claimed the job) what the job was."""

    outcome: str
    summary: JobSummary | None = None


class JobRunner:
    """Runs conversion jobs for one worker: its converter process, storage and database."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        storage: Storage,
        settings: Settings,
        converter: Converter,
    ) -> None:
        self.sessions = sessions
        self.storage = storage
        self.settings = settings
        self.converter = converter
        self.worker_name = worker_name()
        self.host = socket.gethostname()
        # Read once: the installed packages do not change under a running worker.
        self.versions = converter_versions()
        self.kept_bytes = KeptBytes(
            settings.kept_bytes_dir, storage, settings.kept_bytes_mb * 2**20
        )

    def run(self, job_id: int, task_id: str = "") -> JobRun:
        """Run one job; its outcome is `skipped`, `succeeded`, `failed`, `requeued`,
        `deferred` or `superseded`.

        Each step is one unit of work: the claim (which also reads what the attempt needs),
        the variant's record, the finish or the failure. A requeued job is sent to the broker
        by the after-commit hook; a deferred one by the sweep, once due.
        """
        lease = self.settings.job_lease_seconds
        claimed = self._in_unit(lambda session: self._claim(session, job_id, task_id, lease))
        if claimed is None:
            return JobRun("skipped")
        if claimed.finished:
            return JobRun("succeeded", claimed.summary)
        try:
            return JobRun(self._attempt(claimed, task_id, lease), claimed.summary)
        except AttemptSuperseded:
            return JobRun("superseded", claimed.summary)

    def _claim(self, session: Session, job_id: int, task_id: str, lease: int) -> ClaimedJob | None:
        job = jobs.claim(session, job_id, self.worker_name, lease, task_id)
        if job is None:
            return None
        version = job.version
        claimed = ClaimedJob(
            id=job_id,
            target=job.target_kind,
            options=dict(job.options),
            source=_source_artifact(version),
            examples=next((a for a in version.artifacts if a.kind == EXAMPLE_INPUTS_KIND), None),
            summary=JobSummary(
                version.model.name, version.number, job.target_kind, job.attempts, job.worker
            ),
        )
        if job.target_kind != PROFILE:
            return claimed
        unmeasured = jobs.adopt_known_profiles(session, version)
        if not unmeasured:
            # Every artifact took over a profile of its bytes: done without an attempt.
            outcome = {**self._outcome(claimed, task_id), **_profiled({})}
            jobs.finish(session, job, outcome)
            return replace(claimed, finished=True)
        return replace(claimed, unmeasured=unmeasured, version_options=dict(version.options))

    def _attempt(self, claimed: ClaimedJob, task_id: str, lease: int) -> str:
        job_id = claimed.id
        try:
            with lease_kept(self.sessions, job_id, self.worker_name, lease):
                made = self._convert(claimed, task_id)

            def finish(session: Session, job: ConversionJob) -> str:
                if made.signature is not None:
                    compatibility.record_signature(session, job.version, made.signature)
                jobs.finish(session, job, made.outcome)
                return "succeeded"

            return self._conclude(job_id, finish)
        except ConversionError as error:
            # Crashes and timeouts may be transient (memory pressure); bad input is not.
            retry = type(error).__name__ in {"ConverterCrashed", "ConverterTimeout"}
            return self._record_failure(job_id, str(error), retry=retry)
        except BlobNotFound as error:
            return self._record_failure(job_id, f"stored bytes are missing: {error}", retry=False)
        except StorageError as error:
            return self._defer(job_id, f"storage unavailable: {error}")
        except DATABASE_UNREACHABLE as error:
            return self._defer(job_id, f"database unavailable: {error}")
        except OSError as error:
            if error.errno != errno.ENOSPC:
                raise
            # Another job's scratch files may have filled the disk: worth another attempt.
            message = f"the worker's scratch space {self.settings.work_dir} is full: {error}"
            return self._record_failure(job_id, message, retry=True)

    def _record_failure(self, job_id: int, message: str, *, retry: bool) -> str:
        def fail(session: Session, job: ConversionJob) -> str:
            max_attempts = self.settings.job_max_attempts
            requeued = jobs.fail(session, job, message, retry=retry, max_attempts=max_attempts)
            return "requeued" if requeued else "failed"

        return self._conclude(job_id, fail)

    def _defer(self, job_id: int, message: str) -> str:
        """An attempt that could not reach storage or the database: retried later."""
        log.warning("job %s could not reach a service: %s", job_id, message)

        def defer(session: Session, job: ConversionJob) -> str:
            window = self.settings.job_retry_window_seconds
            waiting = jobs.defer(session, job, message, window_seconds=window)
            return "deferred" if waiting else "failed"

        return self._conclude(job_id, defer)

    def _conclude(self, job_id: int, record: Callable[[Session, ConversionJob], str]) -> str:
        """Record how this attempt ended, as soon as the database answers."""
        return self._in_unit(lambda session: record(session, self._held(session, job_id)))

    def _held(self, session: Session, job_id: int) -> ConversionJob:
        job = jobs.held_attempt(session, job_id, self.worker_name)
        if job is None:
            raise AttemptSuperseded(job_id)
        return job

    def _in_unit(self, step: Callable[[Session], T]) -> T:
        """Run `step` as one unit of work, as soon as the database answers: a job's end is
        recorded when the database is back, not left to its lease."""

        def unit() -> T:
            with self.sessions.begin() as session:
                return step(session)

        return when_reachable(unit, self.settings.job_retry_window_seconds)

    def _outcome(self, claimed: ClaimedJob, task_id: str) -> dict:
        """What every outcome names: the inputs' cache key, the versions and the worker."""
        examples = claimed.examples
        key = cache_key(
            claimed.source.sha256,
            examples.sha256 if examples else None,
            claimed.target,
            _conversion_options(claimed.options),
            self.versions,
        )
        return {
            "cache_key": key,
            "converter_versions": self.versions,
            "task_id": task_id,
            "worker": self.worker_name,
            "worker_host": self.host,
        }

    def _convert(self, claimed: ClaimedJob, task_id: str) -> Made:
        job_id, target, options, source = (
            claimed.id,
            claimed.target,
            claimed.options,
            claimed.source,
        )
        examples = claimed.examples
        versions = self.versions
        outcome = self._outcome(claimed, task_id)
        key = outcome["cache_key"]
        if target == PROFILE:
            return Made({**outcome, **self._profile_variants(claimed)})
        if target != "describe" and (reused := self._reuse(job_id, key, source)) is not None:
            return Made({**outcome, **reused})

        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.settings.work_dir) as scratch:
            scratch_dir = Path(scratch)
            source_path = self._fetch_source(source, options, scratch_dir)
            examples_path = None
            if examples is not None:
                examples_path = scratch_dir / "example_inputs.npz"
                self.kept_bytes.place(examples, examples_path)
            if target == "describe":
                signature = self.converter.describe(
                    source.kind, str(source_path), _conversion_options(options)
                )
                return Made({**outcome, "steps": ["describe"]}, signature)
            output = scratch_dir / f"output.{target}"
            result = self.converter.convert(
                ConversionRequest(
                    source_kind=source.kind,
                    source_path=str(source_path),
                    target_kind=target,
                    output_path=str(output),
                    options=_conversion_options(options),
                    example_inputs_path=str(examples_path) if examples_path else None,
                )
            )
            self._store_variant(job_id, source, target, output, result, scratch_dir)
        return Made(
            {
                **outcome,
                "steps": result.steps,
                "options_used": result.options,
                "converter_versions": {**versions, **result.converter_versions},
            }
        )

    def _fetch_source(self, source: Artifact, options: dict, scratch: Path) -> Path:
        """The source as the converter wants it: a file, or an unpacked directory."""
        # Loaders go by extension (Keras refuses a .keras file named otherwise); the name is
        # ours, only a known suffix is taken from the user's filename.
        suffix = Path(source.filename).suffix.lower()
        download = scratch / f"source{suffix if suffix in KNOWN_SUFFIXES else ''}"
        self.kept_bytes.place(source, download)
        if source.packaging == "file":
            return download
        unpacked = scratch / "source"
        limits = ArchiveLimits.from_settings(self.settings)
        extract_archive(lambda: download.open("rb"), source.packaging, unpacked, limits)
        download.unlink()
        return unpacked / options.get("root", "") if options.get("root") else unpacked

    def _store_variant(
        self,
        job_id: int,
        source: Artifact,
        target: str,
        output: Path,
        result: ConversionResult,
        scratch: Path,
    ) -> None:
        if output.is_dir():
            packed = scratch / "variant.tar.gz"
            with packed.open("wb") as out:
                pack_directory(output, out)
            shutil.rmtree(output)
            output, packaging, filename = packed, "tar.gz", f"{target}.tar.gz"
        else:
            packaging, filename = "file", f"model.{'tflite' if 'tflite' in target else 'pb'}"
        with output.open("rb") as stream:
            blob = write_blob(
                self.storage, iter(lambda: stream.read(1024 * 1024), b""), output.stat().st_size
            )
        key = self.storage.promote(blob)
        # The version's profile job measures these bytes next: from here, not from storage.
        self.kept_bytes.keep(blob.sha256, output)
        with self.sessions.begin() as session:
            job = self._held(session, job_id)
            with compatibility.comparisons_settled(session, job.version):
                jobs.record_variant(
                    session,
                    job,
                    source_id=source.id,
                    sha256=blob.sha256,
                    size=blob.size,
                    storage_key=key,
                    packaging=packaging,
                    filename=filename,
                    facts=result.variant,
                    parity=result.parity,
                    signature=result.signature,
                )

    def _reuse(self, job_id: int, key: str, source: Artifact) -> dict | None:
        """Record a variant made earlier from the same inputs instead of converting again."""
        with self.sessions.begin() as session:
            earlier = jobs.find_reusable(session, key)
            if earlier is None or not self.storage.exists(earlier.storage_key):
                return None
            job = self._held(session, job_id)
            with compatibility.comparisons_settled(session, job.version):
                return jobs.reuse_variant(session, job, earlier, source.id)

    def _profile_variants(self, claimed: ClaimedJob) -> dict:
        """Measure each artifact the claim left unmeasured, one by one, each recorded in a unit
        of its own. A variant that crashes or outruns the converter gets a profile saying so;
        the others are still measured."""
        job_id, examples, options = claimed.id, claimed.examples, claimed.version_options
        bound = self.settings.profile_time_bound_seconds
        latencies = {}
        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.settings.work_dir) as scratch:
            examples_path = None
            if examples is not None:
                examples_path = Path(scratch) / "example_inputs.npz"
                self.kept_bytes.place(examples, examples_path)
            for artifact in claimed.unmeasured:
                # An upload is read with the version's options; a variant needs none.
                given = options if artifact.job_id is None else {}
                place = Path(scratch) / str(artifact.id)
                place.mkdir()
                path = self._fetch_source(artifact, given, place)
                try:
                    profile = self.converter.profile(
                        artifact.kind,
                        str(path),
                        facts=artifact.facts,
                        options=_conversion_options(given),
                        example_inputs_path=str(examples_path) if examples_path else None,
                        time_bound_seconds=bound,
                    )
                except ConversionError as error:
                    profile = {"measured": False, "reason": f"not measured: {error}"}
                shutil.rmtree(place)
                with self.sessions.begin() as session:
                    held = self._held(session, job_id)
                    jobs.record_profile(session, held, session.get(Artifact, artifact.id), profile)
                latencies[artifact.kind] = (profile.get("latency_ms") or {}).get("p50")
        return _profiled(latencies)


def when_reachable(step: Callable[[], T], window_seconds: float) -> T:
    """`step()`, tried again with doubling waits while it cannot reach the database or
    storage, for up to `window_seconds`; past that its error is raised (and the job is left
    to its lease and the sweep)."""
    deadline = time.monotonic() + window_seconds
    wait = FIRST_WAIT_SECONDS
    while True:
        try:
            return step()
        except (*DATABASE_UNREACHABLE, StorageError) as error:
            if isinstance(error, BlobNotFound) or time.monotonic() + wait > deadline:
                raise
            log.warning("a service is unreachable, trying again in %.1f s: %s", wait, error)
            time.sleep(wait)
            wait = min(wait * 2, LONGEST_WAIT_SECONDS)


@contextmanager
def lease_kept(
    sessions: sessionmaker[Session], job_id: int, worker: str, lease_seconds: int
) -> Iterator[None]:
    """Renew a running job's lease in the background, so only a dead worker's job expires."""
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(lease_seconds / 3):
            try:
                with sessions.begin() as session:
                    jobs.renew_lease(session, job_id, worker, lease_seconds)
            except Exception as error:  # a database blip must not end the renewals
                log.warning("could not renew the lease of job %s: %s", job_id, error)

    thread = threading.Thread(target=renew, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _source_artifact(version: ModelVersion) -> Artifact:
    return next(a for a in version.artifacts if a.kind == version.source_kind and a.job_id is None)


def _profiled(latencies: dict) -> dict:
    """A profile job's outcome: the p50 latency of each artifact it measured."""
    return {"steps": ["profile"], "latency_p50_ms": latencies}


def _conversion_options(options: dict) -> dict:
    """The version's options that the converter takes (the rest are the registry's own)."""
    return {key: options[key] for key in OPTION_KEYS if key in options}
