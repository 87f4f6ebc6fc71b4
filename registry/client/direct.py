"""Bytes sent to and fetched from the registry's S3 storage through presigned URLs.

Those URLs carry their own signature: they are used on an httpx.Client of their own, which
never sends the registry token. A part the store already holds (its ETag is the MD5 of the
bytes) is not sent again, so a direct upload that was cut off resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import httpx

from registry.client.errors import TransferFailed, transport_failure
from registry.client.uploads import Progress

# Files at least this large go straight to S3 when the registry's store takes direct uploads.
DIRECT_UPLOAD_THRESHOLD = 64 * 1024**2
PARTS_IN_FLIGHT = 4


def send_parts(
    storage_http: httpx.Client,
    path: Path,
    upload: dict,
    parts_in_flight: int = PARTS_IN_FLIGHT,
    progress: Progress | None = None,
) -> list[dict]:
    """PUT the parts of `upload` (the registry's DirectUpload answer) the store does not hold
    yet, `parts_in_flight` at a time; returns each part's number and the ETag it is stored
    with, as finishing the upload names them."""
    size = path.stat().st_size
    done, stored = 0, []
    with path.open("rb") as source, ThreadPoolExecutor(parts_in_flight) as pool:

        def send(part: dict) -> dict:
            offset = (part["number"] - 1) * upload["part_size"]
            body = os.pread(source.fileno(), part["size"], offset)
            if part["stored_etags"]:
                md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
                if md5 in (etag.strip('"') for etag in part["stored_etags"]):
                    return {"number": part["number"], "etag": md5}
            try:
                response = storage_http.put(part["url"], content=body)
            except httpx.RequestError as error:
                raise TransferFailed(
                    f"part {part['number']} of {path.name} did not reach storage "
                    f"({transport_failure(error)}); upload again to resume"
                ) from error
            if response.is_error:
                raise TransferFailed(
                    f"storage refused part {part['number']} of {path.name}: HTTP "
                    f"{response.status_code} {response.text[:300]}; upload again to resume"
                )
            return {"number": part["number"], "etag": response.headers["ETag"].strip('"')}

        futures = {pool.submit(send, part): part for part in upload["parts"]}
        try:
            for future in as_completed(futures):
                stored.append(future.result())
                done += futures[future]["size"]
                if progress is not None:
                    progress(done, size)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return sorted(stored, key=lambda part: part["number"])


def fetch(storage_http: httpx.Client, url: str) -> httpx.Response:
    """The streamed answer of a presigned download URL; the caller closes it."""
    try:
        response = storage_http.send(storage_http.build_request("GET", url), stream=True)
    except httpx.RequestError as error:
        raise TransferFailed(
            f"the storage URL the registry redirected to did not answer "
            f"({transport_failure(error)})"
        ) from error
    if response.is_error:
        response.read()
        response.close()
        raise TransferFailed(
            f"storage answered HTTP {response.status_code} to the download the registry "
            f"redirected to: {response.text[:300]}"
        )
    return response
