"""What the client raises: typed errors, the API's ones carrying its problem+json."""

from __future__ import annotations

from typing import Any

import httpx


class RegistryClientError(Exception):
    """Base of every error the client raises; str(error) is a message for a person."""


class RegistryUnavailable(RegistryClientError):
    """No HTTP answer: nothing listens at the URL, the network failed, or it timed out."""


class RegistryAPIError(RegistryClientError):
    """The registry answered with an error; its RFC 9457 problem+json, as attributes."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type: str = "about:blank",  # the problem+json member's name
        instance: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        self.status, self.title, self.detail, self.type = status, title, detail, type
        self.instance = instance
        self.body = body or {}
        super().__init__(f"{title}: {detail}" if detail and detail != title else title)


class BadRequest(RegistryAPIError):
    """400, 413, 415, 422: the request itself must change (arguments, file, size)."""


class Unauthorized(RegistryAPIError):
    """401: no token, or one the registry does not accept."""


class Forbidden(RegistryAPIError):
    """403: the token lacks the scope this needs."""


class NotFound(RegistryAPIError):
    """404: no such model, version, alias or artifact."""


class Gone(NotFound):
    """410: the model or version was deleted; `body` has `deleted_at` and `deleted_by`."""


class Conflict(RegistryAPIError):
    """409: the request clashes with the current state (exists already, not ready yet)."""


class ServerError(RegistryAPIError):
    """5xx: the registry or a service behind it failed; retrying later may work."""


class InvalidUpload(RegistryClientError, ValueError):
    """A path that cannot be uploaded as it is: a directory holding links or special files."""


class Refused(RegistryClientError):
    """The client declined to do something risky without being told to (`force=True`)."""


class TransferFailed(RegistryClientError):
    """Bytes did not arrive intact: the transfer broke off, or their sha256 is not as listed."""


class VersionNotReady(RegistryClientError):
    """A version did not become ready; `version` is its last state as the registry reported it."""

    def __init__(self, message: str, version: dict[str, Any]) -> None:
        super().__init__(message)
        self.version = version


class ConversionFailed(VersionNotReady):
    """The version's conversions failed; the message carries its `status_detail`."""


class WaitTimedOut(VersionNotReady):
    """The version was still converting when the wait ran out."""


_BY_STATUS: dict[int, type[RegistryAPIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    413: BadRequest,
    415: BadRequest,
    422: BadRequest,
}


# What went wrong when a call timed out: (the phase's name in httpx.Timeout, what it means).
_TIMED_OUT: dict[type[httpx.TimeoutException], tuple[str, str]] = {
    httpx.ConnectTimeout: ("connect", "no connection within"),
    httpx.WriteTimeout: ("write", "could send nothing for"),
    httpx.ReadTimeout: ("read", "nothing arrived for"),
    httpx.PoolTimeout: ("pool", "no free connection within"),
}


def transport_failure(error: httpx.RequestError) -> str:
    """Why a call got no (complete) answer, in words: `nothing arrived for 60 s`."""
    for kind, (phase, words) in _TIMED_OUT.items():
        if isinstance(error, kind):
            # httpx.Client puts the bounds it applied on every request it builds.
            return f"{words} {error.request.extensions['timeout'][phase]:g} s"
    text = str(error)
    for marker in ("Connection refused", "Name or service not known"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


def error_from_response(response: httpx.Response) -> RegistryAPIError:
    """The typed error for an HTTP error response, from its problem+json when it has one."""
    status = response.status_code
    cls = _BY_STATUS.get(status, ServerError if status >= 500 else RegistryAPIError)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()[:500]
        return cls(status, response.reason_phrase or f"HTTP {status}", text or f"HTTP {status}")
    return cls(
        status,
        str(body.get("title") or response.reason_phrase or f"HTTP {status}"),
        str(body.get("detail") or ""),
        str(body.get("type") or "about:blank"),
        body.get("instance"),
        body,
    )
