"""How CLI commands reach a registry: --url, --token, --json, and what their exit codes mean.

Exit codes of every command that talks to a registry:

    0  done
    1  usage: bad arguments, or the registry refused the request as invalid (400/413/415/422)
    2  not found: no such model, version, alias or artifact (404), or it was deleted (410)
    3  conflict or refused: the state does not allow it (409: no SavedModel yet, ...), an
       alias at a version that is not ready without --force, an export that would overwrite
    4  auth: no token, or a token without the scope this needs (401/403)
    5  unavailable: the registry cannot be reached, or it failed (5xx)
    6  conversion failed (`upload --wait`)
    7  transfer failed: the bytes broke off or do not match their sha256; nothing was written
    8  timed out waiting for conversions (`upload --wait`)

`registry diff` answers like diff(1) instead: 0 compatible, 1 breaking (and the codes above
for everything else).

Where the registry is: --url, else REGISTRY_URL, else the URL `registry up` recorded in its
data directory (`<REGISTRY_DATA_DIR>/url`), else http://127.0.0.1:8000. The token: --token,
else REGISTRY_TOKEN, else the admin token `registry up` stored next to that URL
(`<data dir>/admin.token`), which is only ever sent to the registry the data directory records.

How long to wait: --http-timeout, else REGISTRY_HTTP_TIMEOUT, else 60 seconds for each read
or write of a call (a transfer as a whole may take longer); connecting waits 5 seconds.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from registry.cli.progress import TransferProgress
from registry.client import (
    ConversionFailed,
    InvalidUpload,
    Refused,
    RegistryAPIError,
    RegistryClient,
    RegistryClientError,
    RegistryUnavailable,
    TransferFailed,
    WaitTimedOut,
)
from registry.client.rest import TIMEOUT_SECONDS
from registry.errors import UploadRejected
from registry.settings import Settings

DEFAULT_URL = "http://127.0.0.1:8000"

EXIT_OK = 0
EXIT_USAGE = 1
EXIT_NOT_FOUND = 2
EXIT_CONFLICT = 3
EXIT_AUTH = 4
EXIT_UNAVAILABLE = 5
EXIT_CONVERSION_FAILED = 6
EXIT_TRANSFER_FAILED = 7
EXIT_TIMED_OUT = 8

EXIT_CODES_HELP = (
    "Exit codes: 0 done, 1 usage or invalid request, 2 not found or deleted, 3 conflict or "
    "refused, 4 auth, 5 registry unavailable, 6 conversion failed, 7 transfer failed "
    "verification, 8 timed out waiting."
)


def exit_code_for(error: Exception) -> int:
    if isinstance(error, RegistryAPIError):
        if error.status in (401, 403):
            return EXIT_AUTH
        if error.status in (404, 410):
            return EXIT_NOT_FOUND
        if error.status == 409:
            return EXIT_CONFLICT
        return EXIT_UNAVAILABLE if error.status >= 500 else EXIT_USAGE
    for kind, code in (
        (RegistryUnavailable, EXIT_UNAVAILABLE),
        (ConversionFailed, EXIT_CONVERSION_FAILED),
        (WaitTimedOut, EXIT_TIMED_OUT),
        (TransferFailed, EXIT_TRANSFER_FAILED),
        (Refused, EXIT_CONFLICT),
        (UploadRejected, EXIT_CONFLICT),  # an export refused on unpacking (would overwrite)
        (InvalidUpload, EXIT_USAGE),
    ):
        if isinstance(error, kind):
            return code
    return EXIT_UNAVAILABLE


class _UsageExitCode:
    """Click exits 2 on usage errors; here 2 means "not found", so usage errors exit 1."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except click.UsageError as error:
            error.exit_code = EXIT_USAGE
            raise


class RegistryCommand(_UsageExitCode, click.Command):
    pass


class RegistryGroup(_UsageExitCode, click.Group):
    command_class = RegistryCommand


def local_registry(data_dir: Path) -> tuple[str | None, str | None]:
    """The URL and admin token a `registry up` on `data_dir` recorded (None where absent)."""

    def read(name: str) -> str | None:
        path = data_dir / name
        return (path.read_text().strip() or None) if path.is_file() else None

    return read("url"), read("admin.token")


def connect(url: str | None, token: str | None, timeout: float) -> RegistryClient:
    local_url, local_token = local_registry(Settings.from_env().data_dir)
    url = (url or local_url or DEFAULT_URL).rstrip("/")
    if token is None and local_url is not None and url == local_url.rstrip("/"):
        token = local_token
    return RegistryClient(url, token, timeout=timeout)


@dataclass
class Remote:
    """What a command gets: the client, and whether to answer in JSON."""

    client: RegistryClient
    json_output: bool

    def emit(self, data: Any, human: Callable[[], Iterable[str] | str]) -> None:
        """Print `data` as JSON with --json, else the lines `human()` gives."""
        if self.json_output:
            click.echo(json.dumps(data, indent=2, sort_keys=True))
            return
        lines = human()
        click.echo(lines if isinstance(lines, str) else "\n".join(lines))

    def progress(self, label: str) -> TransferProgress:
        return TransferProgress(label)


def _fail(error: Exception, json_output: bool) -> None:
    code = exit_code_for(error)
    if json_output:
        problem = {"error": type(error).__name__, "message": str(error), "exit_code": code}
        if isinstance(error, RegistryAPIError):
            problem.update(status=error.status, title=error.title, detail=error.detail)
        click.echo(json.dumps(problem), err=True)
    else:
        click.echo(f"error: {error}", err=True)
        if code == EXIT_AUTH:
            click.echo(
                "hint: pass --token or set REGISTRY_TOKEN (`registry up` keeps an admin token "
                "in its data directory, used when no --url is given)",
                err=True,
            )
    raise SystemExit(code)


def remote_command(group: click.Group, name: str | None = None, **settings: Any):
    """Declare a command of `group` that talks to a registry.

    It gets --url, --token, --http-timeout and --json, receives a `Remote` as its first
    argument, and its client errors become a message on stderr and an exit code (see the
    module docstring).
    """

    def decorate(function: Callable[..., Any]) -> click.Command:
        @click.option("--url", envvar="REGISTRY_URL", help="Registry URL [env REGISTRY_URL].")
        @click.option("--token", envvar="REGISTRY_TOKEN", help="API token [env REGISTRY_TOKEN].")
        @click.option(
            "--http-timeout",
            envvar="REGISTRY_HTTP_TIMEOUT",
            type=click.FloatRange(min=0, min_open=True),
            default=TIMEOUT_SECONDS,
            show_default=True,
            help="Seconds to wait for each read or write of a call [env REGISTRY_HTTP_TIMEOUT].",
        )
        @click.option("--json", "json_output", is_flag=True, help="Machine-readable output.")
        @functools.wraps(function)
        def run(
            url: str | None, token: str | None, http_timeout: float, json_output: bool, **params
        ) -> None:
            with connect(url, token, http_timeout) as client:
                try:
                    function(Remote(client, json_output), **params)
                except click.UsageError as error:
                    error.exit_code = EXIT_USAGE
                    raise
                except (RegistryClientError, UploadRejected) as error:
                    _fail(error, json_output)

        settings.setdefault("epilog", EXIT_CODES_HELP)
        command = group.command(name, cls=RegistryCommand, **settings)(run)
        shared = [
            p for p in command.params if p.name in ("url", "token", "http_timeout", "json_output")
        ]
        command.params = [p for p in command.params if p not in shared] + shared
        return command

    return decorate
