"""Lineage: a version's derivation graph, and which versions hold given bytes."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from registry.api import bodies, shapes
from registry.api.unit_of_work import db
from registry.domain import catalog
from registry.domain.catalog import lineage

blueprint = Blueprint("lineage", __name__, url_prefix="/api/v1")

DOT_MEDIA_TYPE = "text/vnd.graphviz"


@blueprint.get("/models/<name>/versions/<ref>/lineage")
def version_lineage(name: str, ref: str):
    """A version's derivation graph: artifacts and the conversions between them.

    JSON nodes and edges, or Graphviz text with `?format=dot`.
    ---
    get:
      parameters:
        - in: query
          schema: LineageQuery
      responses:
        200:
          description: The graph.
          content:
            application/json:
              schema: Lineage
            text/vnd.graphviz:
              schema: {type: string}
        404: NotFound
        422: Invalid
    """
    wanted = bodies.query(bodies.LineageQuery())["format"]
    session = db()
    version = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    graph = lineage.lineage_of(version)
    if wanted == "dot":
        return Response(lineage.to_dot(graph), mimetype=DOT_MEDIA_TYPE)
    return jsonify(shapes.dump(shapes.Lineage, graph))


@blueprint.get("/artifacts/<sha256>")
def artifact_holders(sha256: str):
    """Which model versions hold the bytes with this sha256, and where each came from.
    ---
    get:
      responses:
        200:
          description: Every version holding them.
          content:
            application/json:
              schema: ArtifactHolders
        404: NotFound
        422: Invalid
    """
    session = db()
    holders = lineage.holders_of(session, sha256)
    return jsonify(
        shapes.dump(shapes.ArtifactHolders, {"sha256": sha256.lower(), "holders": holders})
    )
