"""TF Serving exports: chosen versions' SavedModels as one tar.gz in TF Serving's layout."""

from __future__ import annotations

from flask import Blueprint, Response

from registry.api import bodies, services
from registry.api.unit_of_work import db
from registry.archives.limits import ArchiveLimits
from registry.archives.streams import written_chunks
from registry.domain.catalog import serving

blueprint = Blueprint("serving", __name__, url_prefix="/api/v1/models/<name>")


@blueprint.get("/serving")
def export_serving(name: str):
    """Chosen versions' SavedModels as one tar.gz in TF Serving's `model_base_path` layout.

    `?alias=production&version=3` gives `NAME/<version>/saved_model.pb, variables/…`; with
    neither, every version an alias names.
    ---
    get:
      parameters:
        - in: query
          schema: ServingQuery
      responses:
        200:
          description: The tar.gz, streamed.
          headers:
            Registry-Versions:
              description: the version numbers it holds, comma-separated
              schema: {type: string}
            Registry-Version-Labels:
              description: >-
                TF Serving version labels, the aliases whose version it holds,
                comma-separated `alias=version` (e.g. `production=3,staging=4`)
              schema: {type: string}
          content:
            application/gzip:
              schema: {type: string, contentMediaType: application/gzip}
        404: NotFound
        409: Conflict
        422: Invalid
    """
    asked = bodies.query(bodies.ServingQuery())
    svc = services()
    session = db()
    export = serving.plan_export(session, name, asked["alias"] + asked["version"])
    limits = ArchiveLimits.from_settings(svc.settings)
    body = written_chunks(lambda out: serving.write_export(svc.storage, export, out, limits))
    versions = ",".join(map(str, export.numbers))
    return Response(
        body,
        mimetype="application/gzip",
        headers={
            "Content-Disposition": f'attachment; filename="{export.model}-serving.tar.gz"',
            # Which versions the archive holds, resolved once: aliases may move afterwards.
            "Registry-Versions": versions,
            "Registry-Version-Labels": ",".join(
                f"{alias}={number}" for alias, number in sorted(export.labels.items())
            ),
        },
        direct_passthrough=True,
    )
