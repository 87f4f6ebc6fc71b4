"""Session fixtures: real PostgreSQL schemas, a SeaweedFS S3 gateway, Redis, a live API server.

Every API test runs twice: on PostgreSQL + S3 (production) and on SQLite + a local directory
(the embedded default).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from registry import create_app
from registry.db import upgrade
from registry.domain.ledger import tokens
from registry.services import Services
from registry.settings import Settings
from registry.testing import brokers
from registry.testing.seaweedfs import S3Server, s3_from_env, start_seaweedfs
from registry.wiring import build_services

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Connect and read bound of the tests' HTTP calls.
HTTP_TIMEOUT_SECONDS = (10, 120)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    server = s3_from_env() or start_seaweedfs(tmp_path_factory.mktemp("seaweedfs"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[callable]:
    """Makes a fresh PostgreSQL schema per call; all of them are dropped at the end."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schemas = []

    def make() -> str:
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        schemas.append(schema)
        return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"

    yield make
    with admin.connect() as connection:
        for schema in schemas:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="session")
def lease_broker() -> Iterator[Callable[[], str]]:
    """Makes a broker URL on an empty Redis database that no other test run uses."""
    leased: list[int] = []

    def lease() -> str:
        leased.append(brokers.lease_database())
        return brokers.database_url(leased[-1])

    yield lease
    for db in leased:
        brokers.release_database(db)


@pytest.fixture(scope="session")
def api_broker(lease_broker) -> str:
    """A broker for API servers whose jobs no worker consumes."""
    return lease_broker()


def backend_settings(
    backend: str, tmp_dir: Path, s3_server: S3Server, postgres_schema_url, broker_url: str
) -> Settings:
    """Settings for `postgres` (PostgreSQL + S3) or `sqlite` (SQLite + local directory)."""
    common = {
        "data_dir": tmp_dir,
        "broker_url": broker_url,
        "part_size_bytes": 5 * 1024**2,
        "max_upload_bytes": 32 * 1024**2,
    }
    if backend == "sqlite":
        return Settings(**common)
    return Settings(
        **common,
        database_url=postgres_schema_url(),
        storage_url=f"s3://registry-{uuid.uuid4().hex[:8]}/artifacts",
        s3_endpoint_url=s3_server.endpoint_url,
        s3_access_key=s3_server.access_key,
        s3_secret_key=s3_server.secret_key,
    )


@dataclass
class LiveRegistry:
    """A real API server on loopback and the services behind it.

    `http` is a requests session carrying an admin token (`token`, named `token_name`).
    """

    url: str
    services: Services
    token_name: str
    token: str
    http: requests.Session

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def api(self, path: str) -> str:
        return f"{self.url}/api/v1{path}"

    def upload(self, model: str, path: Path, **fields) -> requests.Response:
        """POST a version; `example_inputs=PATH` attaches that file as the parity inputs."""
        examples = fields.pop("example_inputs", None)
        with ExitStack() as files_open:
            files = {"file": (path.name, files_open.enter_context(path.open("rb")))}
            if examples is not None:
                stream = files_open.enter_context(Path(examples).open("rb"))
                files["example_inputs"] = ("examples.npz", stream)
            return self.http.post(self.api(f"/models/{model}/versions"), files=files, data=fields)

    def version(self, model: str, ref: str | int) -> dict:
        response = self.http.get(self.api(f"/models/{model}/versions/{ref}"))
        response.raise_for_status()
        return response.json()

    def audit_events(self, **filters) -> list[dict]:
        """Every audit event matching the filters, following the cursor across pages."""
        found, params = [], {"limit": 1000, **filters}
        while True:
            page = self.http.get(self.api("/audit"), params=params)
            page.raise_for_status()
            found += page.json()["events"]
            if not page.json()["next_cursor"]:
                return found
            params["cursor"] = page.json()["next_cursor"]

    def issue_token(self, name: str, scope: str, expires_at: datetime | None = None) -> str:
        """A new token, made through the domain as `registry token create` does."""
        with self.services.sessions.begin() as session:
            issued = tokens.create_token(session, name, scope, "tests", expires_at=expires_at)
        return issued.secret


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """Gives every request a timeout unless it names one: a test never waits without bound."""

    def send(self, request, timeout=None, **kwargs):
        return super().send(request, timeout=timeout or HTTP_TIMEOUT_SECONDS, **kwargs)


def bearer_session(token: str) -> requests.Session:
    """A requests session sending `token`, with a pool big enough for concurrent tests."""
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {token}"
    http.mount("http://", BoundedAdapter(pool_maxsize=32))
    return http


def start_live_registry(
    settings: Settings, services: Services | None = None
) -> tuple[LiveRegistry, callable]:
    upgrade(settings.effective_database_url)
    services = services or build_services(settings)
    server = make_server("127.0.0.1", 0, create_app(settings, services), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    token_name = f"admin-{uuid.uuid4().hex[:8]}"
    with services.sessions.begin() as session:
        admin = tokens.create_token(session, token_name, "admin", "tests").secret
    http = bearer_session(admin)

    def stop() -> None:
        server.shutdown()
        http.close()
        services.close()

    url = f"http://127.0.0.1:{server.server_port}"
    return LiveRegistry(url, services, token_name, admin, http), stop


@contextmanager
def sibling_registry(registry: LiveRegistry, **changes) -> Iterator[LiveRegistry]:
    """Another API server on the same database and storage, with some settings changed."""
    live, stop = start_live_registry(registry.settings.with_changes(**changes))
    try:
        yield live
    finally:
        stop()


@pytest.fixture(scope="session", params=["postgres", "sqlite"])
def registry(
    request, tmp_path_factory, s3_server, postgres_schema_url, api_broker
) -> Iterator[LiveRegistry]:
    settings = backend_settings(
        request.param,
        tmp_path_factory.mktemp(f"registry-{request.param}"),
        s3_server,
        postgres_schema_url,
        api_broker,
    )
    live, stop = start_live_registry(settings)
    yield live
    stop()


@pytest.fixture
def model_name() -> str:
    """A model name no other test uses, so tests share one database without interfering."""
    return f"m-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def samples_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("samples")


@pytest.fixture(scope="session")
def samples(samples_dir: Path) -> dict:
    """Every sample model (registry.testing.tf_samples), built once: ~1 s after TF is imported."""
    from registry.testing import tf_samples

    return tf_samples.build_all(samples_dir)
