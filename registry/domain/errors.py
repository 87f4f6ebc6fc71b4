"""Domain exceptions. Each knows the HTTP status and title the API maps it to."""

from __future__ import annotations


class RegistryError(Exception):
    """Base of the errors a client can act on; str(error) is the detail shown to them."""

    status = 400
    title = "Bad request"
    # Extra problem+json members (structured figures a client can act on) and HTTP headers.
    extra: dict = {}
    headers: dict = {}


class NotFound(RegistryError):
    status = 404
    title = "Not found"


class ModelNotFound(NotFound):
    title = "Model not found"


class VersionNotFound(NotFound):
    title = "Version not found"


class ArtifactNotFound(NotFound):
    title = "Artifact not found"


class InvalidRequest(RegistryError):
    status = 422
    title = "Invalid request"


class Conflict(RegistryError):
    status = 409
    title = "Conflict"


class UploadTooLarge(RegistryError):
    status = 413
    title = "Upload too large"


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
