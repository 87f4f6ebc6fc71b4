"""The refusals and failures a client can act on. Each knows the HTTP status and title the
API maps it to; the client and command line use the same classes."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of the errors a client can act on; str(error) is the detail shown to them."""

    status = 400
    title = "Bad request"
    # Extra problem+json members (structured figures a client can act on) and HTTP headers.
    extra: dict = {}
    headers: dict = {}
    # A refusal that is itself recorded (an audit event): its unit of work commits anyway.
    on_record = False


class NotFound(RegistryError):
    status = 404
    title = "Not found"


class ModelNotFound(NotFound):
    title = "Model not found"


class VersionNotFound(NotFound):
    title = "Version not found"


class ArtifactNotFound(NotFound):
    title = "Artifact not found"


class Gone(RegistryError):
    """Deleted: the record is kept (audit log, lineage), but it is no longer served."""

    status = 410
    title = "Gone"


class InvalidRequest(RegistryError):
    status = 422
    title = "Invalid request"


class MalformedTime(RegistryError):
    """A time in the request that is not an ISO 8601 time."""

    title = "Malformed time"


class Conflict(RegistryError):
    status = 409
    title = "Conflict"


class UploadNotFound(NotFound):
    """No unfinished direct upload of these bytes: never started, finished, or abandoned."""

    title = "Upload not found"


class DirectUploadsUnavailable(Conflict):
    """The store takes no direct uploads (a local directory): send the file through the API."""

    title = "Direct uploads unavailable"


class PartsMissing(Conflict):
    """A direct upload asked to finish before the store holds all of its parts."""

    title = "Parts missing"


class UploadTooLarge(RegistryError):
    status = 413
    title = "Upload too large"


class ModelCardTooLarge(RegistryError):
    """A model card (markdown description) over the size a model card may have."""

    status = 413
    title = "Model card too large"


class ServiceUnavailable(RegistryError):
    """A backing service (database, storage, broker) cannot be reached; retrying may work."""

    status = 503
    title = "Service unavailable"
    retry_after_seconds = 5


class CorruptArtifact(RegistryError):
    """Stored bytes no longer match the sha256 recorded when they were written."""

    status = 500
    title = "Stored artifact is corrupt"


class Unauthorized(RegistryError):
    """No token, or one the registry does not accept (unknown, revoked, expired)."""

    status = 401
    title = "Unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="registry"'}


class Forbidden(RegistryError):
    """A valid token whose scope does not cover what was asked."""

    status = 403
    title = "Forbidden"


class UploadRejected(RegistryError):
    """Base of every refusal of an upload; `str(e)` is the detail for a person."""

    status = 422
    title = "Upload rejected"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UnsupportedFormat(UploadRejected):
    """Not a format the registry accepts, or not the format that was declared."""

    status = 415
    title = "Unsupported upload format"


class InvalidArchive(UploadRejected):
    """Unsafe or corrupt archive: traversal, absolute path, link, device, bad or truncated data."""

    status = 422
    title = "Invalid archive"


class ArchiveTooLarge(UploadRejected):
    """An archive over a bomb limit: entry count, unpacked size or compression ratio."""

    status = 413
    title = "Archive too large"


class IncompleteCheckpoint(UploadRejected):
    """A TF1 checkpoint missing its .meta, .index or a data shard, or an ambiguous prefix."""

    status = 422
    title = "Incomplete checkpoint"


class ObjectCheckpointRejected(UploadRejected):
    """A TF2 object-based checkpoint: variable values without a graph."""

    status = 422
    title = "Object-based checkpoint not supported"


class IncompleteUpload(InvalidRequest):
    """The body ended before its declared length; sending it again can succeed."""

    status = 400
    title = "Incomplete upload"


class ClientIdle(InvalidRequest):
    """The client stopped sending its body for longer than the registry waits."""

    status = 408
    title = "Request timeout"


class WebhookNotFound(NotFound):
    title = "Webhook not found"


class UnsafeAddress(InvalidRequest):
    """A webhook URL whose host is, or resolves to, an address the registry will not call."""

    title = "Webhook address refused"
