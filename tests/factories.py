"""Row factories: the states a test needs that the API does not make on demand (a variant
that failed parity, bytes whose record was tampered with, a status a lost update left)."""

from __future__ import annotations

from sqlalchemy import select, update

from registry.db.models import Artifact, Model, ModelVersion
from registry.domain import jobs
from registry.domain.catalog import compatibility
from tests.files import fake_tflite

FAILED_PARITY = {
    "checked": True,
    "passed": False,
    "inputs": "random(seed=0)",
    "reason": "outside tolerance: probs",
    "outputs": {
        "probs": {
            "max_abs_diff": 0.31,
            "max_rel_diff": 0.42,
            "tolerance": {"abs": 0.05, "rel": 0.05},
            "passed": False,
        }
    },
}


def stored_version(session, model: str, number: int) -> ModelVersion:
    return session.scalar(
        select(ModelVersion).join(Model).where(Model.name == model, ModelVersion.number == number)
    )


def add_variant_failing_parity(registry, model: str, number: int) -> None:
    """A row factory: the int8 variant a worker would record when quantization broke parity."""
    with registry.services.sessions.begin() as session:
        version = stored_version(session, model, number)
        source = version.artifacts[0]
        session.add(
            Artifact(
                version=version,
                kind="tflite_int8",
                sha256=source.sha256,
                size=source.size,
                storage_key=source.storage_key,
                parent=source,
                parity=FAILED_PARITY,
                parity_passed=False,
            )
        )


def corrupt_recorded_sha256(registry, sha256: str) -> None:
    """Make the database's record of an artifact disagree with its stored bytes."""
    with registry.services.sessions.begin() as session:
        for row in session.query(Artifact).filter_by(sha256=sha256):
            row.sha256 = "0" * 64


def set_version_status(registry, model: str, number: int, status: str) -> None:
    """Overwrite a version's status, as a lost status update would have left it."""
    with registry.services.sessions.begin() as session:
        session.execute(
            update(ModelVersion)
            .where(ModelVersion.number == number, ModelVersion.model.has(name=model))
            .values(status=status)
        )


def endpoint(name: str, dtype: str = "float32", shape: list[int] | None = None) -> dict:
    """An input or output as a signature lists it (shape -1: any size; None: any rank)."""
    return {"name": name, "dtype": dtype, "shape": [-1, 4] if shape is None else shape}


def signature(inputs: list[dict], outputs: list[dict]) -> dict:
    return {"inputs": inputs, "outputs": outputs, "signatures": {}}


TWO_INPUTS = signature([endpoint("image"), endpoint("mask")], [endpoint("score")])
IMAGE_ONLY = signature([endpoint("image")], [endpoint("score")])
WITH_EXTRA_OUTPUT = signature(
    [endpoint("image"), endpoint("mask")], [endpoint("score"), endpoint("label", "int64", [-1])]
)


def describe_version(registry, model: str, number: int, described: dict) -> None:
    """What a worker's describe job leaves: the version's signature recorded (and the
    compatibility verdicts that waited on it), its job succeeded, the version ready."""
    with registry.services.sessions.begin() as session:
        version = stored_version(session, model, number)
        compatibility.record_signature(session, version, described)
        for job in version.jobs:
            jobs.finish(session, job, {"steps": ["describe"]})


def upload_described(registry, model: str, tmp_path, *signatures: dict) -> None:
    """Versions 1, 2... of `model` (.tflite uploads), each described with the next signature."""
    for number, described in enumerate(signatures, 1):
        registry.upload(model, fake_tflite(tmp_path / f"v{number}.tflite")).raise_for_status()
        describe_version(registry, model, number, described)
