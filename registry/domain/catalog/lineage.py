"""Export lineage: which artifact was derived from which, by which job, how, by whom.

Nodes are a version's artifacts; each edge is the conversion that derived one artifact from
its parent, with what the job recorded when it ran (steps, converter versions, options, worker,
task, times, parity) and the actor who caused it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db.models import Artifact, ConversionJob, ModelVersion
from registry.domain.jobs import latest_jobs
from registry.domain.ledger.audit import iso_time
from registry.errors import ArtifactNotFound, InvalidRequest
from registry.vocabulary import EXAMPLE_INPUTS_KIND

SHA256_HEX = frozenset("0123456789abcdef")
MAX_DEPTH = 32  # a derivation chain is a few steps long; this only guards against a loop


def lineage_of(version: ModelVersion) -> dict[str, Any]:
    """The derivation graph of one version."""
    jobs = {job.id: job for job in version.jobs}
    # In the order the conversions were planned, not the order workers happened to finish them.
    derived = sorted((a for a in version.artifacts if a.parent_id is not None), key=job_order)
    made = {a.job_id for a in derived}
    examples = next((a for a in version.artifacts if a.kind == EXAMPLE_INPUTS_KIND), None)
    return {
        "model": version.model.name,
        "version": version.number,
        "status": version.status,
        "uploaded_by": version.created_by,
        "uploaded_at": _time(version.created_at),
        "example_inputs_sha256": examples.sha256 if examples else None,
        "nodes": [node(a) for a in version.artifacts if a.kind != EXAMPLE_INPUTS_KIND],
        "edges": [edge(a, jobs.get(a.job_id)) for a in derived],
        # Conversions whose latest attempt produced nothing: part of the answer "what ran".
        "failed_conversions": [
            {
                "target": job.target_kind,
                "job_id": job.id,
                "error": job.error,
                "actor": job.created_by,
            }
            for job in latest_jobs(version).values()
            if job.status == "failed" and job.id not in made
        ],
    }


def job_order(artifact: Artifact) -> int:
    return artifact.job_id or 0


def node(artifact: Artifact) -> dict[str, Any]:
    return {
        "id": artifact.kind,
        "kind": artifact.kind,
        "sha256": artifact.sha256,
        "size": artifact.size,
        "packaging": artifact.packaging,
        "filename": artifact.filename,
        "origin": "upload" if artifact.job_id is None else "conversion",
        "created_at": _time(artifact.created_at),
        "created_by": artifact.created_by,
    }


def edge(artifact: Artifact, job: ConversionJob | None) -> dict[str, Any]:
    """The conversion that derived `artifact` from its parent."""
    outcome = job.outcome if job else {}
    options = dict(outcome.get("options_used") or (job.options if job else {}))
    if "quantization" in artifact.facts:
        options["quantization"] = artifact.facts["quantization"]
        options["select_tf_ops"] = bool(artifact.facts.get("needs_flex"))
    worker = outcome.get("worker") or (job.worker if job else "")
    return {
        "from": artifact.parent.kind,
        "to": artifact.kind,
        "job_id": artifact.job_id,
        "steps": outcome.get("steps") or [],
        "converter_versions": outcome.get("converter_versions") or {},
        "options": options,
        "worker": worker,
        "worker_host": outcome.get("worker_host") or worker.rsplit(":", 1)[0],
        "task_id": outcome.get("task_id", ""),
        "attempts": job.attempts if job else None,
        "started_at": _time(job.started_at) if job else None,
        "finished_at": _time(job.finished_at) if job else None,
        "reused_from_job": outcome.get("reused_from_job"),
        "parity": artifact.parity,
        "parity_passed": artifact.parity_passed,
        "actor": job.created_by if job else artifact.created_by,
    }


def holders_of(session: Session, sha256: str) -> list[dict[str, Any]]:
    """Every model version holding these bytes, each with its ancestry back to the upload."""
    sha256 = sha256.lower()
    if len(sha256) != 64 or not SHA256_HEX.issuperset(sha256):
        raise InvalidRequest(f"{sha256!r} is not a sha256: give 64 hexadecimal digits")
    artifacts = session.scalars(
        select(Artifact).where(Artifact.sha256 == sha256).order_by(Artifact.id)
    ).all()
    if not artifacts:
        raise ArtifactNotFound(f"the registry has never stored bytes with sha256 {sha256}")
    return [_holding(artifact) for artifact in artifacts]


def _holding(artifact: Artifact) -> dict[str, Any]:
    version = artifact.version
    jobs = {job.id: job for job in version.jobs}
    ancestry = []
    current: Artifact | None = artifact
    while current is not None and len(ancestry) < MAX_DEPTH:
        derived_by = edge(current, jobs.get(current.job_id)) if current.parent else None
        ancestry.append({"artifact": node(current), "derived_by": derived_by})
        current = current.parent
    return {
        "model": version.model.name,
        "version": version.number,
        "kind": artifact.kind,
        # Deleted versions are still named: where bytes came from is part of the record.
        "status": "deleted" if version.deleted_at else version.status,
        "aliases": sorted(a.name for a in version.model.aliases if a.version_id == version.id),
        "uploaded_by": version.created_by,
        "uploaded_at": _time(version.created_at),
        "source_filename": version.source_filename,
        # From the artifact asked about back to the uploaded one.
        "ancestry": ancestry,
    }


def to_dot(lineage: dict[str, Any]) -> str:
    """The lineage graph as Graphviz text (`dot -Tsvg`)."""
    lines = [
        f"digraph {_quote(lineage['model'] + '@' + str(lineage['version']))} {{",
        "  rankdir=LR;",
        "  node [shape=box, fontname=monospace];",
    ]
    for item in lineage["nodes"]:
        label = f"{item['kind']}\\n{item['sha256'][:12]}\\n{item['size']} bytes"
        lines.append(f"  {_quote(item['id'])} [label={_quote(label, escaped=True)}];")
    for item in lineage["edges"]:
        parity = {True: "passed", False: "FAILED", None: "not checked"}[item["parity_passed"]]
        label = f"job {item['job_id']}: {' > '.join(item['steps'])}\\nparity {parity}"
        lines.append(
            f"  {_quote(item['from'])} -> {_quote(item['to'])} "
            f"[label={_quote(label, escaped=True)}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str, *, escaped: bool = False) -> str:
    """A DOT string; `escaped` keeps the label's own `\\n` line breaks."""
    if not escaped:
        text = text.replace("\\", "\\\\")
    return '"' + text.replace('"', '\\"') + '"'


def _time(value) -> str | None:
    return iso_time(value) if value is not None else None
