"""Signature compatibility: what a client of one version meets in another."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import bodies, shapes
from registry.api.unit_of_work import db
from registry.domain import catalog
from registry.domain.catalog.compatibility import compare_known

blueprint = Blueprint("compatibility", __name__, url_prefix="/api/v1/models/<name>")


@blueprint.get("/versions/<ref>/compare")
def compare_versions(name: str, ref: str):
    """Compare a version's signature with another's, for the clients of the first.

    Each input and output that differs is listed with its classification and reason: removing,
    renaming or retyping one, adding an input, narrowing an input's dimension or changing a
    rank breaks clients; adding an output or widening an input's dimension does not. Output
    dimensions are judged the other way round (a client reads them).
    ---
    get:
      parameters:
        - in: query
          schema: CompareQuery
      responses:
        200:
          description: The verdict and the changes.
          content:
            application/json:
              schema: Comparison
        404: NotFound
        409: Conflict
        422: Invalid
    """
    other = bodies.query(bodies.CompareQuery())["with_ref"]
    session = db()
    model = catalog.get_model(session, name)
    before = catalog.resolve_version(session, model, ref)
    after = catalog.resolve_version(session, model, other)
    return jsonify(shapes.dump(shapes.Comparison, compare_known(before, after)))
