"""The production stack as docker-compose.yml describes it, run from that file without Docker.

`migrate`, `api` (gunicorn) and two `worker`s run their compose commands as local processes
against PostgreSQL, Redis and SeaweedFS (see tests/compose.py for what is rewritten).
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import requests

from registry.testing.seaweedfs import S3Server
from tests.compose import (
    VENV_BIN,
    LocalServices,
    ServiceProcess,
    local_environment,
    process_environment,
    read_compose,
    service_command,
)
from tests.metrics import sample_key, scrape, scrape_until
from tests.workers.uploads import example_inputs_file, upload_fields

TOKEN_NAME = "compose-test"
START_TIMEOUT = 90.0
CONVERT_TIMEOUT = 240.0
UPLOAD_ROUTE = "/api/v1/models/<name>/versions"


@dataclass
class ComposeStack:
    url: str
    token: str
    api: ServiceProcess
    workers: list[ServiceProcess]
    metrics_dir: Path

    def api_url(self, path: str) -> str:
        return f"{self.url}/api/v1{path}"

    def get(self, url: str) -> requests.Response:
        return requests.get(url, headers=self.auth, timeout=60)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def upload(self, model: str, path: Path, request_id: str, **fields) -> requests.Response:
        examples = fields.pop("example_inputs", None)
        with path.open("rb") as model_file:
            files = {"file": (path.name, model_file)}
            if examples is not None:
                files["example_inputs"] = ("examples.npz", Path(examples).read_bytes())
            return requests.post(
                self.api_url(f"/models/{model}/versions"),
                files=files,
                data=fields,
                headers={**self.auth, "X-Request-ID": request_id},
                timeout=60,
            )

    def wait_until_converted(self, model: str, number: int) -> dict:
        deadline = time.monotonic() + CONVERT_TIMEOUT
        while time.monotonic() < deadline:
            version = self.get(self.api_url(f"/models/{model}/versions/{number}")).json()
            if version["status"] in ("ready", "failed"):
                return version
            time.sleep(0.25)
        tails = "\n".join(w.log_tail() for w in self.workers)
        raise AssertionError(f"{model}@{number} still {version['status']}:\n{tails}")


def _wait_for(what: str, ready, process: ServiceProcess, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if process.process.poll() is not None:
            raise AssertionError(f"{process.name} exited before {what}:\n{process.log_tail()}")
        time.sleep(0.2)
    raise AssertionError(f"{process.name} timed out before {what}:\n{process.log_tail()}")


def _answers_ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def _worker_ready(worker: ServiceProcess) -> bool:
    return any(r["message"].endswith(" ready.") for r in worker.log_records())


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory, s3_server: S3Server, postgres_schema_url, lease_broker
) -> Iterator[ComposeStack]:
    compose = read_compose()
    services = compose["services"]
    local = LocalServices(
        database_url=postgres_schema_url(),
        s3=s3_server,
        bucket=f"compose-{uuid.uuid4().hex[:8]}",
        broker_url=lease_broker(),
    )
    scratch = tmp_path_factory.mktemp("compose")

    def environment(service: str, name: str, **extra: str) -> dict[str, str]:
        # Each process has a scratch directory of its own, as each container has its volumes.
        own = local_environment(services[service]["environment"], local, scratch / name)
        return process_environment(own, **extra)

    def start(service: str, name: str, **extra: str) -> ServiceProcess:
        env = environment(service, name, **extra)
        return ServiceProcess(name, service_command(compose, service), env, scratch / name)

    port = _free_port()
    processes: list[ServiceProcess] = []
    try:
        migrate = start("migrate", "migrate")
        processes.append(migrate)
        assert migrate.process.wait(timeout=120) == 0, migrate.log_tail()
        # What an operator runs once: `docker compose run --rm migrate registry token create`.
        issued = subprocess.run(
            [
                str(VENV_BIN / "registry"),
                *f"token create --name {TOKEN_NAME} --scope write".split(),
            ],
            env=environment("migrate", "token"),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert issued.returncode == 0, issued.stderr
        token = issued.stdout.strip()

        # The one change to the api command: where it listens (gunicorn's documented
        # override, applied over registry/gunicorn_conf.py).
        api = start("api", "api", GUNICORN_CMD_ARGS=f"--bind=127.0.0.1:{port}")
        processes.append(api)
        workers = [start("worker", f"worker-{n}") for n in (1, 2)]
        processes += workers
        url = f"http://127.0.0.1:{port}"
        _wait_for("answering /readyz", lambda: _answers_ready(url), api)
        for worker in workers:
            _wait_for("saying it is ready", lambda w=worker: _worker_ready(w), worker)
        yield ComposeStack(url, token, api, workers, scratch / "api" / "prometheus")
    finally:
        for process in processes:
            process.terminate()  # all at once: their shutdowns overlap
        for process in processes:
            process.stop()
        deadline = time.monotonic() + 5
        while any(p.group_alive() for p in processes) and time.monotonic() < deadline:
            time.sleep(0.1)  # orphans of a killed group are reaped by init, not at once
        left = [p.name for p in processes if p.group_alive()]
        assert not left, f"processes left running after the stack stopped: {left}"


@pytest.fixture(scope="module")
def converted(stack: ComposeStack, samples, tmp_path_factory) -> dict:
    """One upload of the frozen sample, converted by the stack's workers."""
    sample = samples["frozen"]
    model = f"compose-{uuid.uuid4().hex[:8]}"
    request_id = f"compose-upload-{uuid.uuid4().hex[:8]}"
    response = stack.upload(model, sample.path, request_id, **upload_fields(sample))
    assert response.status_code == 202, response.text
    version = stack.wait_until_converted(model, 1)
    return {
        "model": model,
        "request_id": request_id,
        "response": response,
        "version": version,
        "size": sample.path.stat().st_size,
    }


def test_compose_stack_converts_an_upload_into_downloads_matching_their_sha256(stack, converted):
    version = converted["version"]
    assert version["status"] == "ready", version["status_detail"]
    variants = [a for a in version["artifacts"] if a["job_id"] is not None]
    assert {a["kind"] for a in variants} == {"savedmodel", "tflite"}
    for artifact in variants:
        response = stack.get(artifact["download_url"])
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == artifact["sha256"]


def test_upload_request_id_is_on_the_request_line_and_every_job_line(stack, converted):
    request_id = converted["request_id"]
    assert converted["response"].headers["X-Request-ID"] == request_id

    request_lines = [r for r in stack.api.log_records() if r.get("request_id") == request_id]
    assert [(r["method"], r["route"], r["status"]) for r in request_lines] == [
        ("POST", UPLOAD_ROUTE, 202)
    ]
    assert request_lines[0]["bytes_received"] > converted["size"]
    assert request_lines[0]["actor"] == TOKEN_NAME

    job_ids = {job["id"] for job in converted["version"]["jobs"]}
    job_lines = [r for w in stack.workers for r in w.log_records() if r.get("job_id") in job_ids]
    assert {r["job_id"] for r in job_lines} == job_ids
    for line in job_lines:
        assert line["request_id"] == request_id
        assert (line["model"], line["version"], line["outcome"]) == (
            converted["model"],
            1,
            "succeeded",
        )
        assert line["duration_ms"] > 0


def test_metrics_sum_every_gunicorn_worker_and_read_jobs_from_the_database(stack, converted):
    before = scrape(stack.url)
    for _ in range(20):
        # A fresh connection each, so gunicorn may hand them to either of its workers.
        requests.get(f"{stack.url}/healthz", headers={"Connection": "close"}, timeout=10)
    healthz = sample_key(
        "registry_http_requests_total", method="GET", route="/healthz", status="200"
    )
    after = scrape_until(stack.url, lambda s: s.get(healthz, 0) - before.get(healthz, 0) >= 20)

    assert after[healthz] - before.get(healthz, 0) == 20
    assert list(stack.metrics_dir.glob("*.db")), "gunicorn workers wrote no multiprocess files"
    upload = sample_key("registry_http_received_bytes_total", method="POST", route=UPLOAD_ROUTE)
    assert after[upload] >= converted["size"]
    for target in ("savedmodel", "tflite"):
        finished = sample_key(
            "registry_conversion_jobs_finished_total", target=target, outcome="succeeded"
        )
        assert after[finished] >= 1
        assert after[sample_key("registry_conversion_duration_seconds_count", target=target)] >= 1
    assert sample_key("registry_conversion_queue_depth", status="queued") in after


def test_a_compose_variable_this_test_does_not_know_fails_it_loudly(tmp_path):
    compose_env = read_compose()["services"]["worker"]["environment"]
    local = LocalServices(
        "postgresql+psycopg://db", S3Server("http://s3", "k", "s"), "b", "redis://r"
    )

    local_environment(compose_env, local, tmp_path)
    with pytest.raises(AssertionError, match="REGISTRY_NEW_KNOB"):
        local_environment({**compose_env, "REGISTRY_NEW_KNOB": "1"}, local, tmp_path)


def _interval(job: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(job["started_at"]), datetime.fromisoformat(job["finished_at"])


def test_two_workers_convert_two_versions_at_the_same_time(stack, samples, tmp_path):
    sample = samples["frozen"]
    model = f"pair-{uuid.uuid4().hex[:8]}"
    for number, scale in ((1, 0.5), (2, 0.25)):
        # Example inputs of their own give each version its own conversion (no reuse of
        # another version's variant: the parity inputs are part of the cache key).
        (tmp_path / f"v{number}").mkdir()
        examples = example_inputs_file(sample, tmp_path / f"v{number}", scale)
        response = stack.upload(
            model, sample.path, f"pair-{number}", example_inputs=examples, **upload_fields(sample)
        )
        assert response.status_code == 202, response.text

    jobs = []
    for number in (1, 2):
        version = stack.wait_until_converted(model, number)
        assert version["status"] == "ready", version["status_detail"]
        jobs += version["jobs"]

    workers = {job["outcome"]["worker"] for job in jobs}
    assert len(workers) == 2, f"one worker ran every job: {workers}"
    overlapping = [
        (a["id"], b["id"])
        for a in jobs
        for b in jobs
        if a["outcome"]["worker"] < b["outcome"]["worker"]
        and _interval(a)[0] < _interval(b)[1]
        and _interval(b)[0] < _interval(a)[1]
    ]
    assert overlapping, [(j["id"], j["outcome"]["worker"], _interval(j)) for j in jobs]
