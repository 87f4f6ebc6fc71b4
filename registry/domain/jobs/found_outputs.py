"""Outputs found in a graph that came without `output_nodes`: found once per version.

A checkpoint or frozen graph uploaded without `output_nodes` gets one `describe` job first;
when it has found the outputs, they are recorded on the version (with how they were found)
and its conversions are queued with them. When it cannot, the version fails once, with the
describe job's message, instead of once per variant.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from registry.db.models import ModelVersion
from registry.domain.jobs.queue import queue_job
from registry.domain.ledger import audit

GRAPH_KINDS = ("checkpoint", "frozen_pb")  # sources whose outputs are node names


def outputs_to_find(version: ModelVersion) -> bool:
    """Whether the version's outputs must be found before it is converted."""
    return (
        version.source_kind in GRAPH_KINDS
        and not version.options.get("output_nodes")
        and version.inferred_outputs is None
    )


def record_found_outputs(session: Session, version: ModelVersion, used: dict[str, Any]) -> None:
    """Record the outputs a describe job found (`used`: the options it used, see
    `registry.convert.graph_sources.resolve_endpoints`) and queue the version's conversions
    with them."""
    version.inferred_outputs = {
        "output_nodes": used["output_nodes"],
        "how": used.get("outputs_inferred", "found in the graph"),
    }
    audit.record(
        session,
        version.created_by,
        "version.outputs_inferred",
        audit.version_subject(version.model.name, version.number),
        model=version.model.name,
        details=version.inferred_outputs,
    )
    for target in version.options.get("targets", []):
        queue_job(session, version, target, version.created_by)
