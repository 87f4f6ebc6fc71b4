"""Reads, searches and small uploads under load: the registry against MLflow's model registry,
on the same PostgreSQL server, in the same run.

    .venv/bin/python -m bench.api [--models 1000] [--seconds 10] [--explain]

The registry runs as in production (gunicorn gthread, 2 workers x 8 threads, PostgreSQL,
SeaweedFS, a Redis broker of the bench's own that no worker consumes). MLflow (pinned below)
is installed in a venv of its own under build/ (never a dependency of the project) and runs
`mlflow server` (uvicorn, 2 workers) on a database of its own. Both are seeded directly in SQL
with the same catalogue: N models x 10 versions, aliases `production` (version 10) and
`staging` (version 9), model tags (`stage:production` on half of the models, `project:moonshot`
on 3 of them), and for the registry each version's signature, 4 artifacts and 3 conversion
jobs. Both databases are ANALYZEd after seeding, as a running server's would be (`--explain`
prints the registry's query plans before and after, to show which plans need statistics).

wrk (Debian's) drives each call closed-loop at 8 and 32 connections, as a separate process.
Printed per call: requests/s, p50/p99 latency, non-2xx answers, and the server's CPU per
request (user+system time of all its processes, from /proc), with the ratio ours/MLflow.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, column, create_engine, event, insert, table, text

from bench.stack import POSTGRES, ROOT, production_stack
from registry.db import make_engine
from registry.db.models import (
    Alias,
    Artifact,
    ConversionJob,
    Model,
    ModelTag,
    ModelVersion,
)
from registry.testing.ports import free_port

MLFLOW_VERSION = "3.17.2"
MLFLOW_VENV = ROOT / "build" / "mlflow-venv"
WRK = "/usr/bin/wrk"
VERSIONS_PER_MODEL = 10
RARE_TAGGED = 3
CONCURRENCIES = (8, 32)
WARM_UP_SECONDS = 5
STARTUP_TIMEOUT_SECONDS = 600
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
VARIANTS = ("frozen_pb", "savedmodel", "tflite")
ALIASES = (("production", VERSIONS_PER_MODEL), ("staging", VERSIONS_PER_MODEL - 1))


def model_name(index: int) -> str:
    return f"model-{index:05d}"


# --- the calls, as wrk Lua: `m` is a random model's name, `v` a random version number --------


@dataclass(frozen=True)
class Call:
    name: str
    ours: str  # a Lua expression for the path
    mlflow: str
    method: str = "GET"


CALLS = (
    Call(
        "version by alias",
        '"/api/v1/models/" .. m .. "/versions/production"',
        '"/api/2.0/mlflow/registered-models/alias?name=" .. m .. "&alias=production"',
    ),
    Call(
        "version by number",
        '"/api/v1/models/" .. m .. "/versions/" .. v',
        '"/api/2.0/mlflow/model-versions/get?name=" .. m .. "&version=" .. v',
    ),
    Call(
        "model",
        '"/api/v1/models/" .. m',
        '"/api/2.0/mlflow/registered-models/get?name=" .. m',
    ),
    Call(
        "tag search, common (first page of 50)",
        '"/api/v1/models?tag=stage:production"',
        '"/api/2.0/mlflow/registered-models/search?max_results=50'
        '&filter=tags.stage%3D%27production%27"',
    ),
    Call(
        f"tag search, rare ({RARE_TAGGED} hits)",
        '"/api/v1/models?tag=project:moonshot"',
        '"/api/2.0/mlflow/registered-models/search?max_results=50'
        '&filter=tags.project%3D%27moonshot%27"',
    ),
    Call(
        "list a model's versions",
        '"/api/v1/models/" .. m .. "/versions"',
        '"/api/2.0/mlflow/model-versions/search?filter=name%3D%27" .. m .. "%27"',
    ),
    Call(
        "upload 1 KB .tflite (ours) / create version (MLflow, metadata only)",
        '"/api/v1/models/" .. m .. "/versions"',
        '"/api/2.0/mlflow/model-versions/create"',
        method="POST",
    ),
)

LUA = """
local N = {models}
local body = {body}
wrk.method = "{method}"
{headers}
request = function()
  local m = string.format("model-%05d", math.random(0, N - 1))
  local v = math.random(1, {versions})
  {mlflow_body}
  return wrk.format(nil, {path}, nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class Measured:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    failed: int
    cpu_ms_per_request: float


@dataclass
class Server:
    name: str
    port: int
    pid: int  # the root of its process tree
    headers: dict[str, str]
    post_headers: dict[str, str]
    upload_body: Path | None = None


def lua_script(server: Server, call: Call, models: int, path: str, mlflow: bool) -> str:
    sent = {**server.headers, **(server.post_headers if call.method == "POST" else {})}
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in sent.items())
    body, mlflow_body = "nil", ""
    if call.method == "POST" and not mlflow:
        body = f'io.open("{server.upload_body}", "rb"):read("*a")'
    if call.method == "POST" and mlflow:
        mlflow_body = (
            'body = \'{"name": "\' .. m .. \'", "source": "s3://bench/\' .. m .. \'/\' .. '
            "math.random(1, 1000000) .. '\"}'"
        )
    return LUA.format(
        models=models,
        body=body,
        method=call.method,
        headers=headers,
        versions=VERSIONS_PER_MODEL,
        mlflow_body=mlflow_body,
        path=path,
    )


def process_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def cpu_seconds(root: int) -> float:
    """User + system CPU of a process and its descendants (living ones; none exit meanwhile)."""
    total = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS_PER_SECOND


def run_wrk(
    server: Server, call: Call, models: int, connections: int, seconds: int, scratch: Path
) -> Measured:
    mlflow = server.name == "MLflow"
    script = scratch / f"{uuid.uuid4().hex}.lua"
    script.write_text(
        lua_script(server, call, models, call.mlflow if mlflow else call.ours, mlflow)
    )
    before = cpu_seconds(server.pid)
    finished = subprocess.run(
        [
            WRK,
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "30s",
            "-s",
            str(script),
            f"http://127.0.0.1:{server.port}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    cpu = cpu_seconds(server.pid) - before
    line = next((x for x in finished.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise SystemExit(f"wrk gave no result: {finished.stdout}\n{finished.stderr}")
    count, duration_us, broken, bad_status, p50_us, p99_us = map(int, line.split()[1:])
    return Measured(
        requests_per_second=count / (duration_us / 1e6),
        p50_ms=p50_us / 1000,
        p99_ms=p99_us / 1000,
        failed=broken + bad_status,
        cpu_ms_per_request=1000 * cpu / max(count, 1),
    )


# --- seeding --------------------------------------------------------------------------------


def model_tags(index: int) -> dict[str, str]:
    tags = {"team": f"team-{index % 20}"}
    if index % 2 == 0:
        tags["stage"] = "production"
    if index % (10 * RARE_TAGGED) == 7 and index // (10 * RARE_TAGGED) < RARE_TAGGED:
        tags["project"] = "moonshot"
    return tags


def rare_models(models: int) -> list[int]:
    return [i for i in range(models) if "project" in model_tags(i)]


def batched(rows: Iterator[dict], size: int = 5000) -> Iterator[list[dict]]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def insert_all(engine: Engine, target, rows: Iterator[dict]) -> None:
    with engine.begin() as connection:
        for batch in batched(rows):
            connection.execute(insert(target), batch)


def seed_registry(engine: Engine, models: int) -> None:
    now = datetime.now(UTC)
    signature = {
        "inputs": {"image": {"dtype": "float32", "shape": [None, 28, 28, 1]}},
        "outputs": {"probs": {"dtype": "float32", "shape": [None, 10]}},
        "signature_key": "serving_default",
    }

    def version_id(model: int, number: int) -> int:
        return model * VERSIONS_PER_MODEL + number

    insert_all(
        engine,
        Model.__table__,
        (
            {
                "id": i + 1,
                "name": model_name(i),
                "description": f"bench model {i}",
                "tags": model_tags(i),
                "last_version_number": VERSIONS_PER_MODEL,
                "created_at": now,
                "created_by": "bench",
            }
            for i in range(models)
        ),
    )
    insert_all(
        engine,
        ModelTag.__table__,
        (
            {"model_id": i + 1, "key": key, "value": value, "model_name": model_name(i)}
            for i in range(models)
            for key, value in model_tags(i).items()
        ),
    )
    insert_all(
        engine,
        ModelVersion.__table__,
        (
            {
                "id": version_id(i, n),
                "model_id": i + 1,
                "number": n,
                "status": "ready",
                "status_detail": "",
                "source_kind": "keras",
                "source_filename": "model.keras",
                "signature": signature,
                "options": {"targets": list(VARIANTS)},
                "tags": {},
                "created_at": now,
                "created_by": "bench",
            }
            for i in range(models)
            for n in range(1, VERSIONS_PER_MODEL + 1)
        ),
    )

    def digest(*parts) -> str:
        return hashlib.sha256(repr(parts).encode()).hexdigest()

    insert_all(
        engine,
        ConversionJob.__table__,
        (
            {
                "id": version_id(i, n) * 4 + k,
                "version_id": version_id(i, n),
                "target_kind": kind,
                "status": "succeeded",
                "attempts": 1,
                "options": {},
                "outcome": {"steps": ["load", "convert", "parity"], "converter": {"tf": "2.21"}},
                "created_at": now,
                "started_at": now,
                "finished_at": now,
                "worker": "bench@host",
                "created_by": "bench",
            }
            for i in range(models)
            for n in range(1, VERSIONS_PER_MODEL + 1)
            for k, kind in enumerate(VARIANTS, start=1)
        ),
    )

    def artifacts() -> Iterator[dict]:
        for i in range(models):
            for n in range(1, VERSIONS_PER_MODEL + 1):
                source = version_id(i, n) * 4
                kinds = [("keras", None), *((kind, k) for k, kind in enumerate(VARIANTS, 1))]
                for k, (kind, job) in enumerate(kinds):
                    sha = digest(i, n, kind)
                    yield {
                        "id": source + k,
                        "version_id": version_id(i, n),
                        "kind": kind,
                        "sha256": sha,
                        "size": 1_200_000 + k,
                        "storage_key": f"sha256/{sha[:2]}/{sha}",
                        "packaging": "tar.gz" if kind == "savedmodel" else "file",
                        "filename": f"model.{kind}",
                        "parent_id": None if job is None else source,
                        "job_id": None if job is None else source + job,
                        "facts": {"inputs": [{"name": "image", "dtype": "float32"}]},
                        "parity": None if job is None else {"max_abs_error": 1e-6},
                        "parity_passed": None if job is None else True,
                        "created_at": now,
                        "created_by": "bench",
                    }

    insert_all(engine, Artifact.__table__, artifacts())
    insert_all(
        engine,
        Alias.__table__,
        (
            {
                "model_id": i + 1,
                "name": alias,
                "version_id": version_id(i, n),
                "updated_at": now,
                "updated_by": "bench",
            }
            for i in range(models)
            for alias, n in ALIASES
        ),
    )
    with engine.begin() as connection:
        for name in ("models", "model_versions", "artifacts", "conversion_jobs"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f"(SELECT max(id) FROM {name}))"
                )
            )


def seed_mlflow(engine: Engine, models: int) -> None:
    now = int(time.time() * 1000)
    named = {
        name: table(name, *(column(c) for c in columns))
        for name, columns in {
            "registered_models": ("name", "creation_time", "last_updated_time", "description"),
            "registered_model_tags": ("key", "value", "name"),
            "model_versions": (
                "name",
                "version",
                "creation_time",
                "last_updated_time",
                "description",
                "user_id",
                "current_stage",
                "source",
                "run_id",
                "status",
                "status_message",
                "run_link",
                "storage_location",
            ),
            "model_version_tags": ("key", "value", "name", "version"),
            "registered_model_aliases": ("alias", "version", "name"),
        }.items()
    }
    insert_all(
        engine,
        named["registered_models"],
        (
            {
                "name": model_name(i),
                "creation_time": now,
                "last_updated_time": now,
                "description": f"bench model {i}",
            }
            for i in range(models)
        ),
    )
    insert_all(
        engine,
        named["registered_model_tags"],
        (
            {"key": key, "value": value, "name": model_name(i)}
            for i in range(models)
            for key, value in model_tags(i).items()
        ),
    )
    insert_all(
        engine,
        named["model_versions"],
        (
            {
                "name": model_name(i),
                "version": n,
                "creation_time": now,
                "last_updated_time": now,
                "description": "",
                "user_id": "bench",
                "current_stage": "None",
                "source": f"s3://bench/{model_name(i)}/{n}",
                "run_id": uuid.uuid4().hex,
                "status": "READY",
                "status_message": "",
                "run_link": "",
                "storage_location": f"s3://bench/{model_name(i)}/{n}",
            }
            for i in range(models)
            for n in range(1, VERSIONS_PER_MODEL + 1)
        ),
    )
    insert_all(
        engine,
        named["model_version_tags"],
        (
            {"key": key, "value": value, "name": model_name(i), "version": n}
            for i in range(models)
            for n in range(1, VERSIONS_PER_MODEL + 1)
            for key, value in (("framework", "tensorflow"), ("signature", "serving_default"))
        ),
    )
    insert_all(
        engine,
        named["registered_model_aliases"],
        (
            {"alias": alias, "version": n, "name": model_name(i)}
            for i in range(models)
            for alias, n in ALIASES
        ),
    )


def analyze(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE"))


# --- the registry's query plans --------------------------------------------------------------


def explain_reads(engine: Engine, models: int, heading: str) -> None:
    """EXPLAIN ANALYZE of every statement the domain runs for each read."""
    from registry.domain import catalog
    from registry.services import open_sessions

    captured: list[tuple[str, dict]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        captured.append((statement, parameters))

    name = model_name(models // 2)
    reads = {
        "version by alias": lambda s: catalog.resolve_version(
            s, catalog.get_model(s, name), "production"
        ),
        "version by number": lambda s: catalog.resolve_version(s, catalog.get_model(s, name), "3"),
        "model": lambda s: catalog.get_model(s, name, with_aliases=True),
        "tag search, common": lambda s: catalog.list_models(s, tag="stage:production"),
        "tag search, rare": lambda s: catalog.list_models(s, tag="project:moonshot"),
        "list versions": lambda s: catalog.list_versions(s, catalog.get_model(s, name)),
    }
    sessions = open_sessions(engine)
    print(f"\n--- query plans, {heading} ---")
    for label, read in reads.items():
        captured.clear()
        event.listen(engine, "before_cursor_execute", capture)
        try:
            with sessions() as session:
                read(session)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        print(f"[{label}] {len(captured)} queries")
        with engine.connect() as connection:
            for statement, parameters in captured:
                plan = connection.exec_driver_sql("EXPLAIN ANALYZE " + statement, parameters)
                for (line,) in plan:
                    if "Planning" in line or "->" in line or line == line.lstrip():
                        print("   ", line)


# --- servers ---------------------------------------------------------------------------------


@contextmanager
def private_redis(scratch: Path) -> Iterator[str]:
    """A broker of the bench's own: uploads queue jobs that nobody's workers should take."""
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=scratch,
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


def install_mlflow() -> tuple[Path, str]:
    """MLflow in its own venv; the pinned version if pip finds it, else the newest."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
    installed = subprocess.run(
        [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        pip = [str(python), "-m", "pip", "install", "-q", "psycopg2-binary"]
        if subprocess.run([*pip, f"mlflow=={MLFLOW_VERSION}"]).returncode != 0:
            subprocess.run([*pip, "mlflow"], check=True)
        installed = subprocess.run(
            [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
            capture_output=True,
            text=True,
            check=True,
        )
    return python.parent / "mlflow", installed.stdout.strip()


@contextmanager
def mlflow_database() -> Iterator[str]:
    name = f"mlflow_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        yield POSTGRES.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


@contextmanager
def mlflow_server(mlflow: Path, database_url: str, scratch: Path) -> Iterator[Server]:
    backend = database_url.replace("postgresql+psycopg", "postgresql+psycopg2")
    subprocess.run(
        [str(mlflow), "db", "upgrade", backend], check=True, capture_output=True, timeout=600
    )
    port = free_port()
    process = subprocess.Popen(
        [
            str(mlflow),
            "server",
            "--backend-store-uri",
            backend,
            "--default-artifact-root",
            str(scratch / "mlflow-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "2",
            # uvicorn's default 5 s would kill (and respawn) workers that answer its health
            # check late on a busy machine, which is not the server's speed being measured.
            "--uvicorn-opts",
            "--timeout-worker-healthcheck 300",
        ],
        cwd=scratch,
        stdout=subprocess.DEVNULL,
        stderr=(scratch / "mlflow.log").open("wb"),
        start_new_session=True,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/health", STARTUP_TIMEOUT_SECONDS)
        # Its uvicorn and the workers under it serve requests; its job runner does not.
        serving = next(p for p in process_tree(process.pid) if b"uvicorn" in command_line(p))
        yield Server("MLflow", port, serving, {}, {"Content-Type": "application/json"})
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)


def wait_for(url: str, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(1)
    raise SystemExit(f"{url} did not answer within {timeout} s")


def upload_body(scratch: Path) -> tuple[Path, str]:
    """A multipart upload of a 1 KB .tflite, with its sha256 declared as the client does."""
    content = b"\x1c\x00\x00\x00TFL3" + bytes(1016)
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="sha256"\r\n\r\n'.encode()
        + hashlib.sha256(content).hexdigest().encode()
        + b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="m.tflite"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode()
        + content
        + b"\r\n",
        f"--{boundary}--\r\n".encode(),
    ]
    path = scratch / "upload.body"
    path.write_bytes(b"".join(parts))
    return path, f"multipart/form-data; boundary={boundary}"


# --- the run ---------------------------------------------------------------------------------


def print_table(models: int, results: dict, mlflow_version: str) -> None:
    print(f"\n{models:,} models x {VERSIONS_PER_MODEL} versions; MLflow {mlflow_version}\n")
    print(
        "| call | c | MLflow req/s · p50 · p99 · CPU/req | ours req/s · p50 · p99 · CPU/req "
        "| ours/MLflow |"
    )
    print("|---|---|---|---|---|")
    for call in CALLS:
        for connections in CONCURRENCIES:
            theirs = results[("MLflow", call.name, connections)]
            ours = results[("registry", call.name, connections)]
            ratio = ours.requests_per_second / max(theirs.requests_per_second, 1e-9)
            print(f"| {call.name} | {connections} | {cell(theirs)} | {cell(ours)} | {ratio:.1f}× |")


def cell(measured: Measured) -> str:
    failed = f" ({measured.failed} failed)" if measured.failed else ""
    return (
        f"{measured.requests_per_second:,.0f} · {measured.p50_ms:.1f} ms · "
        f"{measured.p99_ms:.1f} ms · {measured.cpu_ms_per_request:.2f} ms{failed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10, help="per wrk run")
    parser.add_argument("--explain", action="store_true", help="print the registry's plans")
    args = parser.parse_args()
    if not Path(WRK).exists():
        raise SystemExit("wrk is missing: apt-get install wrk")

    mlflow, mlflow_version = install_mlflow()
    print(f"{platform.node()}: {os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"load average before: {os.getloadavg()}")
    results: dict[tuple[str, str, int], Measured] = {}
    with tempfile.TemporaryDirectory(prefix="bench-api-") as scratch_dir:
        scratch = Path(scratch_dir)
        body, content_type = upload_body(scratch)
        with (
            private_redis(scratch) as broker,
            production_stack(
                scratch, api_processes=2, broker_url=broker, token_cache_seconds=5
            ) as stack,
        ):
            engine = make_engine(stack.settings.effective_database_url)
            started = time.monotonic()
            seed_registry(engine, args.models)
            print(f"registry seeded in {time.monotonic() - started:.0f} s")
            if args.explain:
                explain_reads(engine, args.models, "no statistics (fresh bulk load)")
            analyze(engine)
            if args.explain:
                explain_reads(engine, args.models, "after ANALYZE")
            engine.dispose()
            ours = Server(
                "registry",
                stack.api_port,
                stack.api.pid,
                {"Authorization": f"Bearer {stack.token}"},
                {"Content-Type": content_type},
                body,
            )
            measure(ours, args, scratch, results)
        with mlflow_database() as url, mlflow_server(mlflow, url, scratch) as theirs:
            engine = make_engine(url)
            started = time.monotonic()
            seed_mlflow(engine, args.models)
            analyze(engine)
            engine.dispose()
            print(f"MLflow seeded in {time.monotonic() - started:.0f} s")
            measure(theirs, args, scratch, results)
            died = (scratch / "mlflow.log").read_text(errors="replace").count(" died")
            print(f"MLflow worker processes that died meanwhile: {died}")
    print_table(args.models, results, mlflow_version)
    print(f"\nload average after: {os.getloadavg()}")


def measure(server: Server, args, scratch: Path, results: dict) -> None:
    # Workers import and connect lazily: warm every call once before anything is measured.
    for call in CALLS[:-1]:
        run_wrk(server, call, args.models, CONCURRENCIES[0], WARM_UP_SECONDS, scratch)
    for call in CALLS:
        for connections in CONCURRENCIES:
            # A short warm-up at the same concurrency: caches, pools, lazily imported code.
            run_wrk(server, call, args.models, connections, 2, scratch)
            measured = run_wrk(server, call, args.models, connections, args.seconds, scratch)
            results[(server.name, call.name, connections)] = measured
            print(f"{server.name:8} {call.name[:40]:40} c={connections:2} {cell(measured)}")


if __name__ == "__main__":
    main()
