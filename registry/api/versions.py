"""Versions: upload, read, download artifacts, re-run conversions."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify, request, url_for

from registry.api import services
from registry.api.auth import actor
from registry.api.multipart import FormBody, read_form
from registry.api.shapes import version_shape
from registry.api.unit_of_work import db
from registry.db.models import ModelVersion
from registry.domain import catalog
from registry.domain.catalog import uploads
from registry.domain.catalog.artifacts import (
    MEDIA_TYPES,
    find_artifact,
    record_download,
    verified_stream,
)
from registry.domain.catalog.uploads import LimitedBlobWriter, UploadOptions
from registry.errors import InvalidRequest, UploadTooLarge
from registry.vocabulary import validate_name

blueprint = Blueprint("versions", __name__, url_prefix="/api/v1/models/<name>")

FILE_FIELDS = ("file", "example_inputs")
MAX_EXAMPLE_INPUTS_BYTES = 256 * 1024**2
MULTIPART_OVERHEAD = 1024**2


@blueprint.post("/versions")
def upload_version(name: str):
    """Upload a new version; the model is created when missing.

    The file is streamed to storage, never held whole in memory. The answer is the version,
    status `pending`, with the conversion jobs queued for it.
    ---
    post:
      requestBody:
        required: true
        content:
          multipart/form-data:
            schema: Upload
      responses:
        202:
          description: The new version; its conversions are queued.
          headers:
            Location: Location
          content:
            application/json:
              schema: Version
        413: TooLarge
        415: Unsupported
        422: Invalid
    """
    svc = services()
    limit = svc.settings.max_upload_bytes
    if (request.content_length or 0) > limit + MULTIPART_OVERHEAD:
        raise UploadTooLarge(
            f"upload of {request.content_length} bytes exceeds the limit of {limit} bytes "
            f"(REGISTRY_MAX_UPLOAD_BYTES)"
        )
    validate_name("model", name)

    def open_sink(field: str, filename: str, fields: dict[str, str]) -> LimitedBlobWriter:
        if field not in FILE_FIELDS:
            raise InvalidRequest(
                f"unexpected file field {field!r}: send `file` (and optionally `example_inputs`)"
            )
        if field == "example_inputs":
            return LimitedBlobWriter(svc.storage, MAX_EXAMPLE_INPUTS_BYTES)
        # A `sha256` field sent before the file lets storage write it to its final key.
        declared = uploads.parse_declared_sha256(fields.get("sha256", ""))
        return LimitedBlobWriter(svc.storage, limit, declared)

    form = read_form(request.stream, request.content_type or "", open_sink)
    source, example_inputs, filename = _close_files(form)
    session = db()
    try:
        options = UploadOptions.from_form(form.fields)
    except BaseException:
        uploads.discard_blobs(session, svc.storage, [source, example_inputs])
        raise
    version = uploads.create_version(
        session,
        svc.storage,
        svc.settings,
        model_name=name,
        source=source,
        filename=filename,
        options=options,
        example_inputs=example_inputs,
        actor=actor(),
    )
    return _accepted(version)


def _close_files(form: FormBody):
    """Finish the temporary blobs of the form's files; on any failure remove them all."""
    if "file" not in form.files:
        form.abort()
        raise InvalidRequest("the upload has no `file` field: send the model as `file`")
    written = {}
    try:
        for field, (_, sink) in form.files.items():
            written[field] = sink.close()
    except BaseException:
        form.abort()
        raise
    filename = form.files["file"][0]
    return written["file"], written.get("example_inputs"), filename


def _accepted(version: ModelVersion):
    """202 with the version and its queued jobs; they reach the workers once this commits."""
    response = jsonify(version_shape(version))
    response.status_code = 202
    response.headers["Location"] = url_for(
        "versions.get_version", name=version.model.name, ref=str(version.number)
    )
    return response


@blueprint.get("/versions")
def list_versions(name: str):
    """List a model's versions, a page at a time.
    ---
    get:
      parameters:
        - Cursor
      responses:
        200:
          description: A page of versions.
          content:
            application/json:
              schema: VersionList
        404: NotFound
        422: Invalid
    """
    session = db()
    model = catalog.get_model(session, name)
    versions, cursor = catalog.list_versions(session, model, cursor=request.args.get("cursor", ""))
    return jsonify(versions=[version_shape(v) for v in versions], next_cursor=cursor)


@blueprint.get("/versions/<ref>")
def get_version(name: str, ref: str):
    """One version: status, signature, artifacts (with sha256 and download link), jobs.
    ---
    get:
      responses:
        200:
          description: The version.
          content:
            application/json:
              schema: Version
        404: NotFound
    """
    session = db()
    version = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    return jsonify(version_shape(version))


@blueprint.post("/versions/<ref>/conversions")
def rerun_conversions(name: str, ref: str):
    """Queue conversions of a version again, for the chosen targets.
    ---
    post:
      requestBody:
        content:
          application/json:
            schema: ConversionRequest
      responses:
        202:
          description: The version with its newly queued jobs.
          headers:
            Location: Location
          content:
            application/json:
              schema: Version
        404: NotFound
        422: Invalid
    """
    body = request.get_json(silent=True) or {}
    session = db()
    version = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    uploads.rerun_conversions(session, version, body.get("targets"), actor())
    return _accepted(version)


@blueprint.get("/versions/<ref>/artifacts/<kind>")
def download_artifact(name: str, ref: str, kind: str):
    """The bytes of one variant: a file, or an archive for directory kinds.

    The whole file is checked against its sha256 as it streams; one `Range` is supported.
    ---
    get:
      parameters:
        - name: Range
          in: header
          description: "one range: `bytes=first-last`, `bytes=first-` or `bytes=-suffix`"
          schema: {type: string}
        - name: If-None-Match
          in: header
          description: the ETag held; 304 when it is still current
          schema: {type: string}
      responses:
        200:
          description: The bytes.
          headers:
            ETag: ETag
            Repr-Digest: ReprDigest
          content:
            application/octet-stream:
              schema: {type: string, contentMediaType: application/octet-stream}
            application/gzip:
              schema: {type: string, contentMediaType: application/gzip}
            application/zip:
              schema: {type: string, contentMediaType: application/zip}
        206:
          description: The requested range.
          headers:
            Content-Range: ContentRange
            ETag: ETag
          content:
            application/octet-stream:
              schema: {type: string, contentMediaType: application/octet-stream}
        304:
          description: Not modified; no body.
        404: NotFound
        416:
          description: The range lies outside the file; no body.
          headers:
            Content-Range: ContentRange
    """
    svc = services()
    session = db()
    version = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    artifact = find_artifact(version, kind)
    if svc.settings.audit_downloads:
        record_download(session, version, artifact, actor(), request.headers.get("Range"))
    session.expunge(artifact)
    download_name = f"{name}-v{version.number}-{artifact.filename or kind}"
    etag = f'"{artifact.sha256}"'
    headers = {
        "ETag": etag,
        "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(artifact.sha256)).decode()}:",
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{download_name}"',
        "Cache-Control": "private, max-age=31536000, immutable",
    }
    if (
        etag in request.headers.get("If-None-Match", "")
        or request.headers.get("If-None-Match") == "*"
    ):
        return Response(status=304, headers=headers)
    mimetype = MEDIA_TYPES.get(artifact.packaging, "application/octet-stream")
    byte_range = _requested_range(artifact.size)
    if byte_range is None:
        return Response(
            verified_stream(svc.storage, artifact),
            headers={**headers, "Content-Length": str(artifact.size)},
            mimetype=mimetype,
            direct_passthrough=True,
        )
    start, end = byte_range
    if start > end:
        return Response(
            status=416, headers={**headers, "Content-Range": f"bytes */{artifact.size}"}
        )
    return Response(
        svc.storage.iter_bytes(artifact.storage_key, start, end),
        status=206,
        headers={
            **headers,
            "Content-Range": f"bytes {start}-{end}/{artifact.size}",
            "Content-Length": str(end - start + 1),
        },
        mimetype=mimetype,
        direct_passthrough=True,
    )


def _requested_range(size: int) -> tuple[int, int] | None:
    """The one byte range asked for, clipped to the size; (1, 0) when it cannot be satisfied.

    Ranged reads are served straight from storage: their digest can't be checked without
    reading the whole object, and a client resuming a download checks the full ETag anyway.
    """
    header = request.headers.get("Range", "")
    if not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[len("bytes=") :].strip().partition("-")
    try:
        if first == "":
            length = int(last)
            start, end = max(size - length, 0), size - 1
            return (start, end) if length > 0 and size > 0 else (1, 0)
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None
    if start >= size or (last and int(last) < start):
        return (1, 0)
    return start, end
