"""One S3 multipart upload, which ends completed or aborted, and the sweep of abandoned ones.

An incomplete multipart upload is invisible to listings yet its parts are stored (and
billed) until it is completed or aborted: every path that gives up on one must abort it.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .errors import is_missing, storage_errors

log = logging.getLogger(__name__)

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000
# Older than this an upload has no writer left: the longest upload the registry accepts
# (max_upload_bytes) takes minutes, and S3 keeps no record of which process started one.
ABANDONED_UPLOAD_AGE = timedelta(days=1)


class MultipartUpload:
    """A multipart upload of `key` in progress; parts may be sent from several threads."""

    def __init__(self, client, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self._finished = False
        self._finish_lock = threading.Lock()

    @classmethod
    def start(cls, client, bucket: str, key: str) -> MultipartUpload:
        with storage_errors("CreateMultipartUpload", key):
            upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        return cls(client, bucket, key, upload_id)

    def upload_part(self, number: int, body: bytes | bytearray) -> dict[str, Any]:
        """Send part `number`; its entry for `complete`."""
        with storage_errors(f"UploadPart {number}", self.key):
            resp = self._client.upload_part(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=body,
            )
        return {"PartNumber": number, "ETag": resp["ETag"]}

    def copy_part(self, number: int, source_key: str, first: int, last: int) -> dict[str, Any]:
        """Make part `number` from bytes first..last (inclusive) of `source_key`, server-side."""
        with storage_errors(f"UploadPartCopy {number}", source_key):
            resp = self._client.upload_part_copy(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                CopySource={"Bucket": self._bucket, "Key": source_key},
                CopySourceRange=f"bytes={first}-{last}",
            )
        return {"PartNumber": number, "ETag": resp["CopyPartResult"]["ETag"]}

    def complete(self, parts: list[dict[str, Any]]) -> None:
        with storage_errors("CompleteMultipartUpload", self.key):
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )
        self._finished = True

    def abort(self) -> bool:
        """Drop every part sent (a no-op once completed or aborted); whether it is gone.

        Never raises: it runs while another error is handled, or from a finalizer. If S3
        cannot be reached the upload stays until a later abort() or `abort_abandoned`.
        """
        with self._finish_lock:
            if self._finished:
                return True
            try:
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=self.key, UploadId=self.upload_id
                )
            except ClientError as exc:
                if not is_missing(exc):  # missing: already gone, which is what we want
                    log.warning("could not abort the upload of %s: %s", self.key, exc)
                    return False
            except BotoCoreError as exc:
                log.warning("could not abort the upload of %s: %s", self.key, exc)
                return False
            self._finished = True
            return True


def abort_abandoned(client, bucket: str, prefix: str, older_than: timedelta) -> int:
    """Abort the multipart uploads under `prefix` started more than `older_than` ago.

    The backstop for uploads whose abort could not reach S3 (the endpoint was down when the
    upload failed, or the process died). Returns how many were aborted.
    """
    cutoff = datetime.now(UTC) - older_than
    aborted = 0
    paginator = client.get_paginator("list_multipart_uploads")
    with storage_errors("ListMultipartUploads", prefix):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for upload in page.get("Uploads", ()):
                if upload["Initiated"] < cutoff:
                    stale = MultipartUpload(client, bucket, upload["Key"], upload["UploadId"])
                    aborted += stale.abort()
    return aborted
