"""Versions: upload, read, delete, download artifacts, re-run conversions."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify, request, url_for
from werkzeug.http import is_resource_modified

from registry.api import bodies, services, shapes
from registry.api.answers import revalidated
from registry.api.auth import actor, requires
from registry.api.multipart import FormBody, read_form
from registry.api.unit_of_work import db
from registry.db.models import ModelVersion
from registry.domain import catalog
from registry.domain.catalog import alias_history, lifecycle, reads, uploads
from registry.domain.catalog.artifacts import (
    MEDIA_TYPES,
    find_artifact,
    record_download,
    verified_stream,
)
from registry.domain.catalog.uploads import LimitedBlobWriter
from registry.errors import InvalidRequest, UploadTooLarge
from registry.storage import DirectTransfers
from registry.vocabulary import validate_name

blueprint = Blueprint("versions", __name__, url_prefix="/api/v1/models/<name>")

FILE_FIELDS = bodies.Upload.file_fields()
MAX_EXAMPLE_INPUTS_BYTES = 256 * 1024**2
MULTIPART_OVERHEAD = 1024**2
# The hot reads load their query through one instance each: building a schema costs more than
# loading through it.
PAGED, AS_OF = bodies.Paged(), bodies.AsOf()


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
        declared = bodies.Upload.declared_sha256(fields)
        return LimitedBlobWriter(svc.storage, limit, declared)

    form = read_form(request.stream, request.content_type or "", open_sink, request.content_length)
    source, example_inputs, filename = _close_files(form)
    session = db()
    try:
        options = bodies.Upload.options_of(form.fields)
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
    return accepted(version)


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


def accepted(version: ModelVersion):
    """202 with the version and its queued jobs; they reach the workers once this commits."""
    response = jsonify(shapes.dump(shapes.Version, version))
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
        - in: query
          schema: Paged
      responses:
        200:
          description: A page of versions.
          content:
            application/json:
              schema: VersionList
        404: NotFound
        422: Invalid
    """
    asked = bodies.query(PAGED)
    versions, cursor = reads.read_versions(db(read_only=True), name, asked["cursor"])
    return jsonify(shapes.dump(shapes.VersionList, {"versions": versions, "next_cursor": cursor}))


@blueprint.get("/versions/<ref>")
def get_version(name: str, ref: str):
    """One version: status, signature, artifacts (with sha256 and download link), jobs.

    With `at`, `ref` is an alias and the answer the version it named at that time.
    ---
    get:
      parameters:
        - in: query
          schema: AsOf
        - name: If-None-Match
          in: header
          description: the ETag of the answer held; 304 while it is still current
          schema: {type: string}
      responses:
        200:
          description: The version.
          headers:
            ETag: AnswerETag
          content:
            application/json:
              schema: Version
        304:
          description: Not modified; no body.
        400: Invalid
        404: NotFound
        422: Invalid
    """
    at = bodies.query(AS_OF).get("at")
    session = db(read_only=True)
    if at is not None:
        version = alias_history.version_at(session, catalog.get_model(session, name), ref, at)
    else:
        version = reads.read_version(session, name, ref)
    return revalidated(shapes.dump(shapes.Version, version))


@blueprint.delete("/versions/<ref>")
@requires("admin")
def delete_version(name: str, ref: str):
    """Delete a version: no longer listed, resolved or served, refused while aliased.

    Its record is kept (the audit log and lineage stay whole) and its number is never given
    again; a direct read answers 410. Its bytes are removed by `registry gc` once nothing live
    needs them.
    ---
    delete:
      responses:
        200:
          description: The version, marked deleted.
          content:
            application/json:
              schema: Deletion
        404: NotFound
        409: Aliased
    """
    deletion = lifecycle.delete_version(db(), name, ref, actor())
    return jsonify(shapes.dump(shapes.Deletion, deletion))


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
    body = bodies.json_body(bodies.ConversionRequest(), required=False)
    session = db()
    version = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    uploads.rerun_conversions(session, version, body["targets"], actor())
    return accepted(version)


@blueprint.get("/versions/<ref>/artifacts/<kind>")
def download_artifact(name: str, ref: str, kind: str):
    """The bytes of one variant: a file, or an archive for directory kinds.

    The whole file is checked against its sha256 as it streams; one `Range` is supported.
    With `redirect=true` and S3 storage the answer is a 307 to a presigned URL of the bytes
    instead: the client checks their sha256 (the artifact's `sha256`) itself.
    ---
    get:
      parameters:
        - in: query
          schema: DownloadQuery
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
        307:
          description: "With `redirect=true` on S3 storage: fetch the bytes from `Location`."
          headers:
            Location: Location
        404: NotFound
        416: RangeNotSatisfiable
    """
    svc = services()
    asked = bodies.query(bodies.DownloadQuery())
    session = db()
    version = catalog.resolve_version(session, catalog.get_model(session, name), ref)
    artifact = find_artifact(version, kind)
    if svc.settings.audit_downloads:
        record_download(session, version, artifact, actor(), request.headers.get("Range"))
    session.expunge(artifact)
    download_name = f"{name}-v{version.number}-{artifact.filename or kind}"
    etag = f'"{artifact.sha256}"'
    if (
        asked["redirect"]
        and isinstance(svc.storage, DirectTransfers)
        and is_resource_modified(request.environ, etag)
    ):
        url = svc.storage.download_url(
            artifact.storage_key, svc.settings.download_redirect_seconds, download_name
        )
        # No body, and not to be cached: the URL expires.
        return Response(status=307, headers={"Location": url, "Cache-Control": "no-store"})
    response = Response(
        verified_stream(svc.storage, artifact),
        headers={
            "ETag": etag,
            "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(artifact.sha256)).decode()}:",
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'attachment; filename="{download_name}"',
            "Cache-Control": "private, max-age=31536000, immutable",
            "Content-Length": str(artifact.size),
        },
        mimetype=MEDIA_TYPES.get(artifact.packaging, "application/octet-stream"),
        direct_passthrough=True,
    )
    response.make_conditional(
        request, accept_ranges=_range_applies(etag, artifact.size), complete_length=artifact.size
    )
    if response.status_code == 206:
        # Ranged reads are served straight from storage (werkzeug would skip through the whole
        # verified stream): their digest can't be checked without reading the whole object,
        # and a client resuming a download checks the full ETag anyway.
        served = response.content_range
        response.response = svc.storage.iter_bytes(
            artifact.storage_key, served.start, served.stop - 1
        )
    return response


def _range_applies(etag: str, size: int) -> bool:
    """Whether `make_conditional` should serve the Range asked for; if not, it answers 304 or
    sends the whole file.

    werkzeug reads the Range before If-None-Match and refuses with 416 whatever it cannot serve;
    RFC 9110 answers a current If-None-Match with 304 first (13.2.2), ignores a range unit it
    does not know (14.2) and reads a suffix longer than the file as the whole file (14.1.2).
    One range is served; a malformed or multiple one is ignored, as the RFC allows.
    """
    asked = request.range
    if asked is None or asked.units != "bytes" or len(asked.ranges) != 1:
        return False
    if not is_resource_modified(request.environ, etag):
        return False
    start, _ = asked.ranges[0]
    return not (start < 0 and -start >= size)
