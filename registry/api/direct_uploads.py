"""Direct uploads: a large file sent straight to S3 in parts, then recorded as a version."""

from __future__ import annotations

from flask import Blueprint, jsonify

from registry.api import bodies, services, shapes
from registry.api.auth import actor
from registry.api.unit_of_work import db
from registry.api.versions import accepted
from registry.domain.catalog import direct_uploads

blueprint = Blueprint("uploads", __name__, url_prefix="/api/v1/models/<name>/uploads")


@blueprint.post("")
def start_upload(name: str):
    """Start a direct upload, or pick up the unfinished one of the same file.

    Answers a presigned URL for each part; parts the store holds already carry their ETag, so
    a client that was cut off sends only the others. Refused with 409 when the store is a
    local directory: upload through POST /models/{name}/versions instead.
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: DirectUploadFile
      responses:
        200:
          description: Where to send each part.
          content:
            application/json:
              schema: DirectUpload
        409: Conflict
        413: TooLarge
        422: Invalid
    """
    svc = services()
    upload = direct_uploads.start_upload(
        svc.storage,
        svc.settings,
        model_name=name,
        request=bodies.json_body(bodies.DirectUploadFile()),
        actor=actor(),
    )
    return jsonify(shapes.dump(shapes.DirectUpload, upload))


@blueprint.post("/<upload_id>/complete")
def complete_upload(name: str, upload_id: str):
    """Finish a direct upload: the parts are joined and checked, then recorded as a version.

    The body is the one that started the upload, with each part's ETag. The joined bytes must
    hash to the declared sha256, or they are removed (422); then the upload goes on as one
    through the API: inspected, and a version with its conversion jobs. The bytes stay where
    they were joined, or, if a live version holds the same bytes, that copy is shared.
    ---
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: DirectUploadCompletion
      responses:
        202:
          description: The new version; its conversions are queued.
          headers:
            Location: Location
          content:
            application/json:
              schema: Version
        404: NotFound
        409: Conflict
        415: Unsupported
        422: Invalid
    """
    svc = services()
    version = direct_uploads.finish_upload(
        db(),
        svc.storage,
        svc.settings,
        model_name=name,
        upload_id=upload_id,
        request=bodies.json_body(bodies.DirectUploadCompletion()),
        actor=actor(),
    )
    return accepted(version)
