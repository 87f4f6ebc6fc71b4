"""docker-compose.yml without Docker: its services' own commands as local process groups.

The compose file is read, not copied: each service's `command` runs as written (its program
taken from this venv, as the image installs it), with the image's `ENV` lines and the
service's `environment`. Only what names the containers' world is rewritten: hostnames,
ports and credentials of PostgreSQL, S3 and Redis, and the paths of volumes, through the
explicit table in `local_environment`. A variable the table does not know fails the test,
so a new setting in the compose file is looked at here instead of passing by unnoticed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from registry.settings import Settings
from registry.testing.seaweedfs import S3Server

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = Path(sys.executable).parent
STOP_TIMEOUT = 20.0

# Passed on as the compose file has them: they name nothing outside the container.
KEPT_AS_IS = frozenset({"REGISTRY_LOG_LEVEL"})


@dataclass
class LocalServices:
    """The local stand-ins for the compose file's postgres, s3 and redis services."""

    database_url: str
    s3: S3Server
    bucket: str
    broker_url: str


def read_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def image_environment(path: Path = DOCKERFILE) -> dict[str, str]:
    """The `ENV KEY=VALUE` lines of the Dockerfile: every service runs with them."""
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("ENV "):
            for assignment in line[len("ENV ") :].split():
                key, _, value = assignment.partition("=")
                env[key] = value
    return env


def local_environment(
    compose_env: dict[str, Any], local: LocalServices, scratch: Path
) -> dict[str, str]:
    """The service's environment with the containers' hosts, keys and volumes made local.

    Where a value names a host, it must be the compose service the local stand-in replaces:
    the rewrite is only right for what it was written for.
    """
    storage = urlsplit(str(compose_env.get("REGISTRY_STORAGE_URL", "s3://")))
    rewrites: dict[str, tuple[str | None, str]] = {
        "REGISTRY_DATABASE_URL": ("postgres", local.database_url),
        "REGISTRY_S3_ENDPOINT_URL": ("s3", local.s3.endpoint_url),
        "REGISTRY_BROKER_URL": ("redis", local.broker_url),
        "REGISTRY_STORAGE_URL": (None, f"s3://{local.bucket}{storage.path}"),
        "REGISTRY_S3_ACCESS_KEY": (None, local.s3.access_key),
        "REGISTRY_S3_SECRET_KEY": (None, local.s3.secret_key),
        "REGISTRY_DATA_DIR": (None, str(scratch / "data")),
        "PROMETHEUS_MULTIPROC_DIR": (None, str(scratch / "prometheus")),
    }
    unknown = sorted(set(compose_env) - set(rewrites) - KEPT_AS_IS)
    if unknown:
        raise AssertionError(
            f"docker-compose.yml sets {', '.join(unknown)}, which the compose-parity test "
            "does not know: add each to KEPT_AS_IS or to the rewrites in tests/compose.py"
        )
    settings_variables = set(Settings().to_env())
    not_settings = sorted(
        n for n in compose_env if n.startswith("REGISTRY_") and n not in settings_variables
    )
    if not_settings:
        raise AssertionError(f"docker-compose.yml sets {not_settings}, which Settings ignores")
    if storage.scheme != "s3":
        raise AssertionError(f"REGISTRY_STORAGE_URL is {storage.geturl()!r}, not s3://")

    env = {}
    for name, value in compose_env.items():
        if name in KEPT_AS_IS:
            env[name] = str(value)
            continue
        host, local_value = rewrites[name]
        if host is not None and urlsplit(str(value)).hostname != host:
            raise AssertionError(f"{name}={value!r} no longer points at the {host} service")
        env[name] = local_value
    return env


def service_command(compose: dict[str, Any], service: str) -> list[str]:
    """The service's `command`, its program resolved in this venv (the image's PATH)."""
    command = compose["services"][service]["command"]
    if not isinstance(command, list):
        raise AssertionError(f"give the {service} service's command in list form")
    program = VENV_BIN / command[0]
    if not program.is_file():
        raise AssertionError(f"{command[0]} (the {service} command) is not installed here")
    return [str(program), *map(str, command[1:])]


def process_environment(service_env: dict[str, str], **extra: str) -> dict[str, str]:
    """This machine's environment without our own variables, plus the image's and service's."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("REGISTRY_", "PROMETHEUS_", "GUNICORN_"))
    }
    inherited["PATH"] = f"{VENV_BIN}{os.pathsep}{inherited.get('PATH', '')}"
    return {**inherited, **image_environment(), **service_env, **extra}


class ServiceProcess:
    """One compose service's command, in a process group of its own with its output in a file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], scratch: Path) -> None:
        self.name = name
        scratch.mkdir(parents=True, exist_ok=True)
        self.log_path = scratch / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            argv,
            env=env,
            cwd=scratch,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def group(self) -> int:
        return self.process.pid

    def group_alive(self) -> bool:
        """Whether any process of the group is left (the command's children included)."""
        try:
            os.killpg(self.group, 0)
        except ProcessLookupError:
            return False
        return True

    def terminate(self) -> None:
        """SIGTERM the whole group, the command and every process it started."""
        self._signal(signal.SIGTERM)

    def stop(self) -> None:
        """SIGTERM the whole group, SIGKILL what is left after the grace period."""
        self.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        while self._alive_after_reaping() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self._alive_after_reaping():
            self._signal(signal.SIGKILL)
            self.process.wait()
        self._log.close()

    def _alive_after_reaping(self) -> bool:
        self.process.poll()  # reap our direct child, or it stays in the group as a zombie
        return self.group_alive()

    def _signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.group, signum)

    def log_records(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (banners and other plain lines are skipped)."""
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return records

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
