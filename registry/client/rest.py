"""RegistryClient: the registry's REST API (v1) over one requests.Session."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from registry import __version__
from registry.archives.limits import ArchiveLimits
from registry.client.downloads import Progress, extract_response, save_verified
from registry.client.errors import (
    ConversionFailed,
    Refused,
    RegistryUnavailable,
    WaitTimedOut,
    error_from_response,
)
from registry.client.uploads import MultipartBody, directory_part, file_part, file_sha256
from registry.settings import Settings

TERMINAL = ("ready", "failed")


def _path(*parts: str | int) -> str:
    return "/".join(quote(str(part), safe="") for part in parts)


def _listed(value: str | Iterable[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


class RegistryClient:
    """A client of one registry at `url`; sends `Authorization: Bearer <token>` when given one.

    Errors are typed (`registry.client.errors`): an error answer raises a RegistryAPIError
    subclass carrying the problem+json (status, title, detail, type); no answer at all raises
    RegistryUnavailable.
    """

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout  # seconds to connect, and at most between two received bytes
        self.session = requests.Session()
        self.session.headers["User-Agent"] = f"tf-model-registry-client/{__version__}"
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One API call (`path` under /api/v1); raises the typed error for an error answer."""
        try:
            response = self.session.request(
                method, f"{self.url}/api/v1{path}", timeout=self.timeout, **kwargs
            )
        except requests.ConnectionError as error:
            raise RegistryUnavailable(
                f"cannot reach the registry at {self.url} ({_reason(error)}); is it running? "
                "(`registry up` starts one; --url or REGISTRY_URL point elsewhere)"
            ) from error
        except requests.Timeout as error:
            raise RegistryUnavailable(
                f"the registry at {self.url} did not answer within {self.timeout:g} s"
            ) from error
        if response.status_code >= 400:
            try:
                raise error_from_response(response)
            finally:
                response.close()
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def _pages(self, path: str, key: str, params: dict[str, str]) -> Iterator[dict]:
        page = self._json("GET", path, params=params)
        yield from page[key]
        while page.get("next_cursor"):
            page = self._json("GET", path, params={**params, "cursor": page["next_cursor"]})
            yield from page[key]

    # --- reading --------------------------------------------------------------------------

    def models(self, query: str = "", tag: str = "") -> list[dict]:
        """Every model (all pages), optionally by name substring and `key:value` tag."""
        params = {k: v for k, v in (("q", query), ("tag", tag)) if v}
        return list(self._pages("/models", "models", params))

    def model(self, name: str) -> dict:
        return self._json("GET", f"/models/{_path(name)}")

    def versions(self, name: str) -> list[dict]:
        return list(self._pages(f"/models/{_path(name)}/versions", "versions", {}))

    def version(self, name: str, ref: str | int = "latest") -> dict:
        """One version by number, alias or `latest`."""
        return self._json("GET", f"/models/{_path(name, 'versions', ref)}")

    def lineage(self, name: str, ref: str | int) -> dict:
        return self._json("GET", f"/models/{_path(name, 'versions', ref, 'lineage')}")

    def whence_sha256(self, sha256: str) -> dict:
        """Which versions hold an artifact with these bytes, and where it came from."""
        return self._json("GET", f"/artifacts/{_path(sha256.lower())}")

    # --- writing --------------------------------------------------------------------------

    def create_model(self, name: str, description: str = "", tags: dict | None = None) -> dict:
        body = {"name": name, "description": description, "tags": tags or {}}
        return self._json("POST", "/models", json=body)

    def upload(
        self,
        name: str,
        path: str | Path,
        *,
        format: str | None = None,  # the API's field name
        output_nodes: str | Iterable[str] | None = None,
        input_nodes: str | Iterable[str] | None = None,
        targets: str | Iterable[str] | None = None,
        input_shapes: str | dict[str, list[int]] | None = None,
        tags: dict[str, Any] | None = None,
        example_inputs: str | Path | None = None,
        progress: Progress | None = None,
    ) -> dict:
        """Upload a model file, or a directory (packed as a .tar.gz on the fly): a new version.

        Streams from disk, never reading a file into memory; `progress(done, total)` is told
        of the bytes read from the file (for a directory: from the files in it). Returns the
        new version (status `pending`, with its jobs).
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
        shapes = json.dumps(input_shapes) if isinstance(input_shapes, dict) else input_shapes
        fields = {
            "format": format,
            "output_nodes": _listed(output_nodes),
            "input_nodes": _listed(input_nodes),
            "targets": _listed(targets),
            "input_shapes": shapes,
            "tags": json.dumps(tags) if tags else None,
            # Promised up front, it lets S3 storage write the file to its final key directly.
            "sha256": None if path.is_dir() else file_sha256(path),
        }
        parts = [directory_part("file", path) if path.is_dir() else file_part("file", path)]
        if example_inputs is not None:
            parts.append(file_part("example_inputs", Path(example_inputs)))
        body = MultipartBody({k: v for k, v in fields.items() if v}, parts, progress)
        return self._json(
            "POST",
            f"/models/{_path(name)}/versions",
            data=body.request_data(),
            headers={"Content-Type": body.content_type},
        )

    def set_alias(self, name: str, alias: str, version: int, *, force: bool = False) -> dict:
        """Point `alias` at a version; refuses (Refused) a version that is not ready unless
        `force`: an alias such as `production` is what deployments fetch."""
        if not force:
            target = self.version(name, version)
            if target["status"] != "ready":
                detail = f" ({target['status_detail']})" if target.get("status_detail") else ""
                raise Refused(
                    f"version {version} of {name!r} is {target['status']}{detail}, not ready; "
                    f"pointing {alias!r} at it anyway needs force (--force)"
                )
        return self._json(
            "PUT",
            f"/models/{_path(name, 'aliases', alias)}",
            json={"version": version, "force": force},
        )

    def remove_alias(self, name: str, alias: str) -> None:
        self.request("DELETE", f"/models/{_path(name, 'aliases', alias)}").close()

    def delete_version(self, name: str, ref: str | int) -> dict:
        """Delete a version (admin token): kept on record, no longer served; refused (Conflict)
        while an alias points at it. Returns what was deleted."""
        return self._json("DELETE", f"/models/{_path(name, 'versions', ref)}")

    def delete_model(self, name: str) -> dict:
        """Delete a model and all its versions (admin token); refused while it has aliases."""
        return self._json("DELETE", f"/models/{_path(name)}")

    def rerun(self, name: str, ref: str | int, targets: Iterable[str] = ()) -> dict:
        """Queue the version's conversions again (all of them when `targets` is empty)."""
        path = f"/models/{_path(name, 'versions', ref, 'conversions')}"
        return self._json("POST", path, json={"targets": list(targets)})

    def wait_until_ready(
        self,
        name: str,
        ref: str | int = "latest",
        timeout: float = 600.0,
        *,
        poll_seconds: float = 1.0,
        on_update: Callable[[dict], None] | None = None,
    ) -> dict:
        """Poll a version until its conversions are over; returns it once `ready`.

        Raises ConversionFailed (with the version's status_detail) when it failed, and
        WaitTimedOut when it is still converting after `timeout` seconds. An alias is
        resolved once: the version waited for is the one it named at the start.
        """
        version = self.version(name, ref)
        deadline = time.monotonic() + timeout
        while True:
            if on_update is not None:
                on_update(version)
            if version["status"] == "ready":
                return version
            where = f"{name}@{version['version']}"
            if version["status"] == "failed":
                raise ConversionFailed(
                    f"{where} failed: {version.get('status_detail') or 'no detail'}", version
                )
            if time.monotonic() >= deadline:
                raise WaitTimedOut(
                    f"{where} is still {version['status']} after {timeout:g} s "
                    f"({_jobs_summary(version)})",
                    version,
                )
            time.sleep(poll_seconds)
            version = self.version(name, version["version"])

    # --- bytes ----------------------------------------------------------------------------

    def download(
        self,
        name: str,
        ref: str | int,
        kind: str,
        dest: str | Path,
        progress: Progress | None = None,
    ) -> dict:
        """Save one artifact to `dest`, its sha256 checked against the version's listing.

        The bytes go to a temporary file next to `dest`, renamed into place only when their
        size and sha256 are the listed ones (and agree with the ETag / Repr-Digest); on any
        mismatch or a transfer that breaks off nothing is left and TransferFailed is raised.
        Returns the artifact's listing with `version` and `path` added.
        """
        dest = Path(dest)
        version = self.version(name, ref)
        number = version["version"]
        path = f"/models/{_path(name, 'versions', number, 'artifacts', kind)}"
        with self.request("GET", path, stream=True) as response:
            if not any(a["kind"] == kind for a in version["artifacts"]):
                version = self.version(name, number)  # a conversion finished since we looked
            artifact = next(a for a in version["artifacts"] if a["kind"] == kind)
            save_verified(response, dest, artifact["sha256"], artifact["size"], progress)
        return {**artifact, "version": number, "path": str(dest)}

    def export_serving(
        self,
        name: str,
        dest: str | Path,
        *,
        aliases: Iterable[str] = (),
        versions: Iterable[int | str] = (),
        progress: Progress | None = None,
        limits: ArchiveLimits | None = None,
    ) -> list[int]:
        """Unpack the SavedModels of the chosen versions into `dest` in TF Serving's layout,
        `dest/NAME/<version>/saved_model.pb, variables/...`, as the export streams in.

        Returns the version numbers exported. Existing files are never overwritten (the
        export is refused and what it unpacked removed).
        """
        params = [("alias", a) for a in aliases] + [("version", str(v)) for v in versions]
        path = f"/models/{_path(name, 'serving')}"
        limits = limits or ArchiveLimits.from_settings(Settings.from_env())
        with self.request("GET", path, params=params, stream=True) as response:
            extract_response(response, Path(dest), limits, progress)
            listed = response.headers.get("Registry-Versions", "")
        return [int(n) for n in listed.split(",") if n.strip().isdigit()]


def _reason(error: Exception) -> str:
    text = str(error)
    for marker in ("Connection refused", "Name or service not known", "timed out"):
        if marker in text:
            return marker.lower()
    return type(error).__name__


def _jobs_summary(version: dict) -> str:
    jobs = version.get("jobs") or []
    return ", ".join(f"{job['target']} {job['status']}" for job in jobs) or "no jobs"
