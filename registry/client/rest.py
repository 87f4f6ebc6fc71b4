"""RegistryClient: the registry's REST API (v1) over one httpx.Client."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, closing
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from registry import __version__
from registry.archives.limits import ArchiveLimits
from registry.client.direct import (
    DIRECT_UPLOAD_THRESHOLD,
    PARTS_IN_FLIGHT,
    fetch,
    send_parts,
)
from registry.client.downloads import extract_response, save_verified
from registry.client.errors import (
    Conflict,
    ConversionFailed,
    Refused,
    RegistryUnavailable,
    WaitTimedOut,
    error_from_response,
    transport_failure,
)
from registry.client.serving import (
    CONFIG_NAME,
    ServedModel,
    ServingTree,
    model_server_config,
    parse_labels,
    refuse_existing,
    write_config,
)
from registry.client.uploads import Progress, file_field, file_sha256, model_field
from registry.settings import Settings

TERMINAL = ("ready", "failed")
# httpx's model: a short bound to connect, a long one for each read and write, so that a
# slow answer or a transfer of hours is fine while a registry gone silent is not.
CONNECT_TIMEOUT_SECONDS = 5.0
TIMEOUT_SECONDS = 60.0


def _path(*parts: str | int) -> str:
    return "/".join(quote(str(part), safe="") for part in parts)


def _listed(value: str | Iterable[str] | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return ",".join(value)


class RegistryClient:
    """A client of one registry at `url`; sends `Authorization: Bearer <token>` when given one.

    Every call is bounded: `connect_timeout` seconds to connect, `timeout` seconds for each
    read and each write (not for a whole transfer: an upload or a download can take hours).

    When the registry stores artifacts on S3, files of `direct_upload_threshold` bytes or more
    go straight to S3 in parts (`parts_in_flight` at a time) and downloads are fetched from
    presigned S3 URLs: the registry only hands out the URLs and checks the result. None turns
    direct uploads off.

    Errors are typed (`registry.client.errors`): an error answer raises a RegistryAPIError
    subclass carrying the problem+json (status, title, detail, type); no answer at all raises
    RegistryUnavailable, and a download that breaks off TransferFailed.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = TIMEOUT_SECONDS,
        connect_timeout: float = CONNECT_TIMEOUT_SECONDS,
        direct_upload_threshold: int | None = DIRECT_UPLOAD_THRESHOLD,
        parts_in_flight: int = PARTS_IN_FLIGHT,
    ) -> None:
        self.url = url.rstrip("/")
        self.direct_upload_threshold = direct_upload_threshold
        self.parts_in_flight = parts_in_flight
        headers = {"User-Agent": f"tf-model-registry-client/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
        )
        # For presigned storage URLs: they carry their own signature, never the token.
        self.storage_http = httpx.Client(
            headers={"User-Agent": headers["User-Agent"]},
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=parts_in_flight + 2),
        )

    def close(self) -> None:
        self.http.close()
        self.storage_http.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    def request(
        self, method: str, path: str, *, stream: bool = False, **kwargs: Any
    ) -> httpx.Response:
        """One API call (`path` under /api/v1); raises the typed error for an error answer.

        With `stream`, the body is left to be read (`iter_bytes`) and the caller closes it.
        A redirect is answered as it is, not followed.
        """
        request = self.http.build_request(method, f"{self.url}/api/v1{path}", **kwargs)
        try:
            response = self.http.send(request, stream=stream)
            if response.is_error:
                try:
                    response.read()  # the problem+json, of a streamed answer too
                    raise error_from_response(response)
                finally:
                    response.close()
        except httpx.ConnectError as error:
            raise RegistryUnavailable(
                f"cannot reach the registry at {self.url} ({transport_failure(error)}); is it "
                "running? (`registry up` starts one; --url or REGISTRY_URL point elsewhere)"
            ) from error
        except httpx.RequestError as error:
            raise RegistryUnavailable(
                f"no answer from the registry at {self.url}: {transport_failure(error)}"
            ) from error
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

    def version(self, name: str, ref: str | int = "latest", *, at: str | None = None) -> dict:
        """One version by number, alias or `latest`; with `at` (an ISO 8601 time), the version
        the alias `ref` named then."""
        params = {"at": at} if at is not None else None
        return self._json("GET", f"/models/{_path(name, 'versions', ref)}", params=params)

    def compare(self, name: str, ref: str | int, other: str | int) -> dict:
        """What a client of version `ref` meets in version `other`: verdict and changes."""
        path = f"/models/{_path(name, 'versions', ref, 'compare')}"
        return self._json("GET", path, params={"with": str(other)})

    def alias_history(self, name: str, alias: str) -> list[dict]:
        """Every change of an alias (all pages), oldest first."""
        return list(
            self._pages(f"/models/{_path(name, 'aliases', alias, 'history')}", "changes", {})
        )

    def lineage(self, name: str, ref: str | int) -> dict:
        return self._json("GET", f"/models/{_path(name, 'versions', ref, 'lineage')}")

    def whence_sha256(self, sha256: str) -> dict:
        """Which versions hold an artifact with these bytes, and where it came from."""
        return self._json("GET", f"/artifacts/{_path(sha256.lower())}")

    # --- writing --------------------------------------------------------------------------

    def set_readme(self, name: str, markdown: str) -> dict:
        """Set the model's card (markdown, at most 256 KiB); returns the model."""
        return self._json(
            "PUT",
            f"/models/{_path(name, 'readme')}",
            content=markdown.encode(),
            headers={"Content-Type": "text/markdown; charset=utf-8"},
        )

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
        input_constants: dict[str, bool | int | float] | None = None,
        tags: dict[str, Any] | None = None,
        example_inputs: str | Path | None = None,
        int8_io: bool = False,
        progress: Progress | None = None,
    ) -> dict:
        """Upload a model file, or a directory (packed as a .tar.gz on the fly): a new version.

        Streams from disk, never reading a file into memory; `progress(done, total)` is told
        of the bytes read from the file (for a directory: from the files in it). A file of
        `direct_upload_threshold` bytes or more (without `example_inputs`) goes straight to
        S3 when the registry's store is S3; uploading it again after a failure sends only the
        parts S3 does not hold yet. Returns the new version (status `pending`, with its jobs).
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such file or directory: {path}")
        shapes = json.dumps(input_shapes) if isinstance(input_shapes, dict) else input_shapes
        # httpx sends these before the files.
        fields = {
            "format": format,
            "output_nodes": _listed(output_nodes),
            "input_nodes": _listed(input_nodes),
            "targets": _listed(targets),
            "input_shapes": shapes,
            "input_constants": json.dumps(input_constants) if input_constants else None,
            "tags": json.dumps(tags) if tags else None,
            "int8_io": "true" if int8_io else None,
            # Promised up front, it lets S3 storage write the file to its final key directly.
            "sha256": None if path.is_dir() else file_sha256(path),
        }
        if example_inputs is None and self._goes_direct(path):
            try:
                return self._upload_direct(name, path, fields, progress)
            except Conflict as refused:
                if not refused.type.endswith("/direct-uploads-unavailable"):
                    raise
                self.direct_upload_threshold = None  # a local store: the API takes the bytes
        with ExitStack() as opened:
            files = {"file": opened.enter_context(model_field(path, progress))}
            if example_inputs is not None:
                files["example_inputs"] = opened.enter_context(file_field(Path(example_inputs)))
            return self._json(
                "POST",
                f"/models/{_path(name)}/versions",
                data={k: v for k, v in fields.items() if v},
                files=files,
            )

    def _goes_direct(self, path: Path) -> bool:
        threshold = self.direct_upload_threshold
        return threshold is not None and path.is_file() and path.stat().st_size >= threshold

    def _upload_direct(
        self, name: str, path: Path, fields: dict[str, str | None], progress: Progress | None
    ) -> dict:
        """Start (or pick up) a direct upload, send the parts S3 lacks, and finish it."""
        body = {
            **{k: v for k, v in fields.items() if v},
            "filename": path.name,
            "size": path.stat().st_size,
        }
        uploads = f"/models/{_path(name)}/uploads"
        upload = self._json("POST", uploads, json=body)
        parts = send_parts(self.storage_http, path, upload, self.parts_in_flight, progress)
        finish = f"{uploads}/{_path(upload['id'], 'complete')}"
        return self._json("POST", finish, json={**body, "parts": parts})

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

    def rollback_alias(self, name: str, alias: str, *, force: bool = False) -> dict:
        """Move `alias` back to the version it named before, through the same gates as any
        move (`force` passes them)."""
        path = f"/models/{_path(name, 'aliases', alias, 'rollback')}"
        return self._json("POST", path, json={"force": force})

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

    def add_webhook(self, url: str, events: Iterable[str], secret: str | None = None) -> dict:
        """Register an endpoint (admin token); the answer holds its signing secret, this once
        (a new one unless `secret` is given)."""
        body = {"url": url, "events": list(events)}
        if secret is not None:
            body["secret"] = secret
        return self._json("POST", "/webhooks", json=body)

    def webhooks(self) -> list[dict]:
        return self._json("GET", "/webhooks")["webhooks"]

    def remove_webhook(self, webhook_id: int) -> None:
        self.request("DELETE", f"/webhooks/{_path(webhook_id)}").close()

    def webhook_deliveries(self, webhook_id: int, limit: int = 100) -> list[dict]:
        """The endpoint's latest deliveries, newest first."""
        path = f"/webhooks/{_path(webhook_id, 'deliveries')}"
        return self._json("GET", path, params={"limit": limit})["deliveries"]

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
        *,
        redirect: bool = True,
    ) -> dict:
        """Save one artifact to `dest`, its sha256 checked against the version's listing.

        The bytes go to a temporary file next to `dest`, renamed into place only when their
        size and sha256 are the listed ones (and agree with the ETag / Repr-Digest); on any
        mismatch or a transfer that breaks off nothing is left and TransferFailed is raised.
        On S3 storage the bytes come from a presigned S3 URL the registry redirects to, unless
        `redirect` is False (then the registry sends them).
        Returns the artifact's listing with `version` and `path` added.
        """
        dest = Path(dest)
        version = self.version(name, ref)
        number = version["version"]
        path = f"/models/{_path(name, 'versions', number, 'artifacts', kind)}"
        response = self.request(
            "GET", path, params={"redirect": str(redirect).lower()}, stream=True
        )
        if response.is_redirect:
            response.close()
            response = fetch(self.storage_http, response.headers["Location"])
        with closing(response):
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
    ) -> ServedModel:
        """Unpack the SavedModels of the chosen versions into `dest` in TF Serving's layout,
        `dest/NAME/<version>/saved_model.pb, variables/...`, as the export streams in.

        With no aliases or versions named, every version an alias of the model names. Returns
        what was exported: the versions, and the aliases among them as version labels.
        Existing files are never overwritten (the export is refused and what it unpacked
        removed).
        """
        params = [("alias", a) for a in aliases] + [("version", str(v)) for v in versions]
        path = f"/models/{_path(name, 'serving')}"
        limits = limits or ArchiveLimits.from_settings(Settings.from_env())
        with closing(self.request("GET", path, params=params, stream=True)) as response:
            extract_response(response, Path(dest), limits, progress)
            listed = response.headers.get("Registry-Versions", "")
            labels = parse_labels(response.headers.get("Registry-Version-Labels", ""))
        numbers = [int(n) for n in listed.split(",") if n.strip().isdigit()]
        return ServedModel(name, Path(dest) / name, numbers, labels)

    def export_serving_config(
        self,
        names: Iterable[str],
        dest: str | Path,
        *,
        aliases: Iterable[str] = (),
        versions: Iterable[int | str] = (),
        serving_root: Path | None = None,
        skip_unservable: bool = False,
        progress: Progress | None = None,
    ) -> ServingTree:
        """Export each named model (see `export_serving`) into `dest`, then write
        `dest/models.config`: TF Serving's model config naming them all, with their aliases
        as version labels. Refused before any download if `dest/models.config` exists.

        `skip_unservable` leaves out (and lists) a model whose versions have no SavedModel
        (a .tflite upload, a conversion not finished) instead of refusing the whole export.
        """
        config = Path(dest) / CONFIG_NAME
        refuse_existing(config)
        tree = ServingTree(config, [])
        for name in names:
            try:
                tree.models.append(
                    self.export_serving(
                        name, dest, aliases=aliases, versions=versions, progress=progress
                    )
                )
            except Conflict as refused:
                if not skip_unservable:
                    raise
                tree.skipped[name] = refused.detail
        write_config(config, model_server_config(tree.models, serving_root))
        return tree

    def labelled_models(self) -> list[str]:
        """The names of the models that have at least one alias (what `--all` exports)."""
        return [model["name"] for model in self.models() if model["aliases"]]


def _jobs_summary(version: dict) -> str:
    jobs = version.get("jobs") or []
    return ", ".join(f"{job['target']} {job['status']}" for job in jobs) or "no jobs"
