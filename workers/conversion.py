"""Running one conversion job: fetch the source, convert, store the variant, record it all."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import socket
import tempfile
from importlib import metadata
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from registry.archives.directories import extract_archive, pack_directory
from registry.archives.limits import ArchiveLimits
from registry.convert import ConversionError, ConversionRequest, ConversionResult, Converter
from registry.convert.contract import OPTION_KEYS
from registry.db.models import Artifact, ConversionJob, ModelVersion
from registry.domain.catalog.artifacts import download_verified
from registry.domain.catalog.uploads import write_blob
from registry.domain.jobs import queue as jobs
from registry.domain.ledger.audit import json_native
from registry.settings import Settings
from registry.storage import Storage, StorageError
from registry.vocabulary import EXAMPLE_INPUTS_KIND

KNOWN_SUFFIXES = (".keras", ".h5", ".hdf5", ".pb", ".tflite", ".zip", ".tgz", ".gz")


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
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"

    def run(self, job_id: int, task_id: str = "") -> str:
        """Run one job; returns `skipped`, `succeeded`, `failed` or `requeued`."""
        lease = self.settings.job_lease_seconds
        if not jobs.claim(self.sessions, job_id, self.worker_name, lease, task_id):
            return "skipped"
        try:
            with jobs.lease_kept(self.sessions, job_id, lease):
                outcome = self._convert(job_id, task_id)
        except ConversionError as error:
            # Crashes and timeouts may be transient (memory pressure); bad input is not.
            retry = type(error).__name__ in {"ConverterCrashed", "ConverterTimeout"}
            return self._record_failure(job_id, str(error), retry=retry)
        except StorageError as error:
            return self._record_failure(job_id, f"storage unavailable: {error}", retry=True)
        with self.sessions.begin() as session:
            jobs.finish(session, session.get(ConversionJob, job_id), outcome)
        return "succeeded"

    def _record_failure(self, job_id: int, message: str, *, retry: bool) -> str:
        with self.sessions.begin() as session:
            requeued = jobs.fail(
                session,
                session.get(ConversionJob, job_id),
                message,
                retry=retry,
                max_attempts=self.settings.job_max_attempts,
            )
        return "requeued" if requeued else "failed"

    def _convert(self, job_id: int, task_id: str) -> dict:
        with self.sessions() as session:
            job = session.get(ConversionJob, job_id)
            version = job.version
            source = _source_artifact(version)
            examples = next((a for a in version.artifacts if a.kind == EXAMPLE_INPUTS_KIND), None)
            target, options = job.target_kind, dict(job.options)
        versions = converter_versions()
        inputs_sha256 = examples.sha256 if examples else None
        key = cache_key(
            source.sha256, inputs_sha256, target, _conversion_options(options), versions
        )
        outcome = {
            "cache_key": key,
            "converter_versions": versions,
            "task_id": task_id,
            "worker": self.worker_name,
            "worker_host": socket.gethostname(),
        }
        if target != "describe" and (reused := self._reuse(job_id, key, source)) is not None:
            return {**outcome, **reused}

        self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.settings.work_dir) as scratch:
            scratch_dir = Path(scratch)
            source_path = self._fetch_source(source, options, scratch_dir)
            examples_path = None
            if examples is not None:
                examples_path = scratch_dir / "example_inputs.npz"
                download_verified(self.storage, examples, examples_path)
            if target == "describe":
                signature = self.converter.describe(
                    source.kind, str(source_path), _conversion_options(options)
                )
                self._record_signature(version.id, signature)
                return {**outcome, "steps": ["describe"]}
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
        return {
            **outcome,
            "steps": result.steps,
            "options_used": result.options,
            "converter_versions": {**versions, **result.converter_versions},
        }

    def _fetch_source(self, source: Artifact, options: dict, scratch: Path) -> Path:
        """The source as the converter wants it: a file, or an unpacked directory."""
        # Loaders go by extension (Keras refuses a .keras file named otherwise); the name is
        # ours, only a known suffix is taken from the user's filename.
        suffix = Path(source.filename).suffix.lower()
        download = scratch / f"source{suffix if suffix in KNOWN_SUFFIXES else ''}"
        download_verified(self.storage, source, download)
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
        parity = result.parity
        with self.sessions.begin() as session:
            job = session.get(ConversionJob, job_id)
            _record_artifact(
                session,
                job,
                source_id=source.id,
                sha256=blob.sha256,
                size=blob.size,
                storage_key=key,
                packaging=packaging,
                filename=filename,
                facts=result.variant,
                parity=parity,
            )
            if job.version.signature is None:
                job.version.signature = result.signature

    def _reuse(self, job_id: int, key: str, source: Artifact) -> dict | None:
        """Record a variant made earlier from the same inputs instead of converting again."""
        with self.sessions.begin() as session:
            earlier = session.scalar(
                select(Artifact)
                .join(ConversionJob, Artifact.job_id == ConversionJob.id)
                .where(ConversionJob.outcome["cache_key"].as_string() == key)
                .limit(1)
            )
            if earlier is None or not self.storage.exists(earlier.storage_key):
                return None
            job = session.get(ConversionJob, job_id)
            _record_artifact(
                session,
                job,
                source_id=source.id,
                sha256=earlier.sha256,
                size=earlier.size,
                storage_key=earlier.storage_key,
                packaging=earlier.packaging,
                filename=earlier.filename,
                facts=earlier.facts,
                parity=earlier.parity,
            )
            if job.version.signature is None:
                job.version.signature = earlier.version.signature
            # The bytes are the earlier job's: so are the steps, options and versions behind them.
            earlier_outcome = session.get(ConversionJob, earlier.job_id).outcome
            return {
                "reused_from_job": earlier.job_id,
                **{
                    key: earlier_outcome[key]
                    for key in ("steps", "options_used", "converter_versions")
                    if key in earlier_outcome
                },
            }

    def _record_signature(self, version_id: int, signature: dict) -> None:
        with self.sessions.begin() as session:
            session.get(ModelVersion, version_id).signature = signature


def _record_artifact(
    session: Session, job: ConversionJob, *, source_id: int, parity, **fields
) -> None:
    """Insert or replace the version's artifact of the job's kind (a re-run replaces it)."""
    artifact = session.scalar(
        select(Artifact).where(
            Artifact.version_id == job.version_id, Artifact.kind == job.target_kind
        )
    )
    if artifact is None:
        artifact = Artifact(version_id=job.version_id, kind=job.target_kind)
        session.add(artifact)
    for name, value in fields.items():
        setattr(artifact, name, value)
    artifact.parent_id = source_id
    artifact.job_id = job.id
    artifact.created_by = job.created_by
    # NaN outputs give NaN figures, which PostgreSQL's JSON type refuses.
    artifact.facts = json_native(artifact.facts)
    artifact.parity = json_native(parity)
    artifact.parity_passed = parity.get("passed") if parity.get("checked") else None
    jobs.record_job_event(
        session,
        job,
        "artifact.recorded",
        {
            "kind": job.target_kind,
            "sha256": artifact.sha256,
            "size": artifact.size,
            "derived_from_sha256": session.get(Artifact, source_id).sha256,
            "parity_passed": artifact.parity_passed,
            "parity": parity,
        },
    )


def _source_artifact(version: ModelVersion) -> Artifact:
    return next(a for a in version.artifacts if a.kind == version.source_kind and a.job_id is None)


def _conversion_options(options: dict) -> dict:
    """The version's options that the converter takes (the rest are the registry's own)."""
    return {key: options[key] for key in OPTION_KEYS if key in options}
