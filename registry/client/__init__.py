"""The Python client of the registry, which the `registry` CLI itself uses.

    from registry.client import RegistryClient

    with RegistryClient("http://127.0.0.1:8000", token) as registry:
        version = registry.upload("digits", "export_dir/", output_nodes=["head/probs"])
        registry.wait_until_ready("digits", version["version"], timeout=600)
        registry.download("digits", version["version"], "tflite", "digits.tflite")

Uploads stream from disk (a directory is packed into a .tar.gz on the fly); downloads
stream to disk and are checked against the listed sha256 before they are renamed into place.
"""

from registry.client.errors import (
    BadRequest,
    Conflict,
    ConversionFailed,
    Forbidden,
    Gone,
    InvalidUpload,
    NotFound,
    Refused,
    RegistryAPIError,
    RegistryClientError,
    RegistryUnavailable,
    ServerError,
    TransferFailed,
    Unauthorized,
    VersionNotReady,
    WaitTimedOut,
)
from registry.client.rest import RegistryClient

__all__ = [
    "BadRequest",
    "Conflict",
    "ConversionFailed",
    "Forbidden",
    "Gone",
    "InvalidUpload",
    "NotFound",
    "Refused",
    "RegistryAPIError",
    "RegistryClient",
    "RegistryClientError",
    "RegistryUnavailable",
    "ServerError",
    "TransferFailed",
    "Unauthorized",
    "VersionNotReady",
    "WaitTimedOut",
]
