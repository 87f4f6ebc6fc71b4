"""CPU per read: the API's Python and the PostgreSQL backend behind it, one request at a time.

    .venv/bin/python -m bench.read_cpu [--models 200] [--requests 2000] [--profile CALL]

Throughput on a shared machine says little about the code; CPU time per request does. This
seeds the catalogue `bench.api` seeds (N models x 10 versions, aliases, artifacts, jobs, tags)
into a PostgreSQL schema of its own, builds the app in this process as gunicorn's workers do
(JSON log lines at INFO, metrics kept in multiprocess files), and calls it through WSGI, each
call on random models, with a bearer token. Printed per call: this process's CPU and the
PostgreSQL backends' CPU (from /proc) per request. The HTTP server's own parsing is left out:
it is the same for every answer. `--profile CALL` prints where the process's time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from pathlib import Path

from sqlalchemy import create_engine, text
from werkzeug.test import EnvironBuilder

from bench.api import ALIASES, VERSIONS_PER_MODEL, analyze, model_name, seed_registry
from bench.stack import POSTGRES
from registry.db import make_engine, upgrade
from registry.domain.ledger import tokens
from registry.logs import configure_logging
from registry.services import open_sessions
from registry.settings import Settings

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
WARM_UP = 100
CALLS = {
    "version by alias": lambda m, v: f"/api/v1/models/{m}/versions/{ALIASES[0][0]}",
    "version by number": lambda m, v: f"/api/v1/models/{m}/versions/{v}",
    "model": lambda m, v: f"/api/v1/models/{m}",
    "list a model's versions": lambda m, v: f"/api/v1/models/{m}/versions",
    "tag search, common": lambda m, v: "/api/v1/models?tag=stage:production",
    "tag search, rare": lambda m, v: "/api/v1/models?tag=project:moonshot",
}


@contextmanager
def seeded_schema(models: int, application: str) -> Iterator[str]:
    """A fresh schema holding the bench catalogue; its URL names connections `application`."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}&application_name={application}"
    try:
        upgrade(url)
        engine = make_engine(url)
        seed_registry(engine, models)
        analyze(engine)
        engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def backend_cpu_seconds(application: str) -> float:
    """User + system CPU of the PostgreSQL backends serving connections named `application`."""
    admin = create_engine(POSTGRES)
    try:
        with admin.connect() as connection:
            pids = connection.scalars(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": application},
            ).all()
    finally:
        admin.dispose()
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS_PER_SECOND


def environs(path_of, models: int, count: int, token: str) -> list[dict]:
    """WSGI environs of `count` requests, each on a random model and version."""
    made = []
    for _ in range(count):
        model = model_name(random.randrange(models))
        number = random.randint(1, VERSIONS_PER_MODEL)
        path, _, query = path_of(model, number).partition("?")
        builder = EnvironBuilder(
            path=path, query_string=query, headers={"Authorization": f"Bearer {token}"}
        )
        made.append(builder.get_environ())
    return made


def call(app, environ: dict) -> int:
    statuses = []

    def start_response(status, _headers, _exc_info=None):
        statuses.append(int(status.split(" ", 1)[0]))

    body = app(environ, start_response)
    try:
        for _ in body:
            pass
    finally:
        body.close()
    return statuses[0]


def measure(app, requests: list[dict], application: str, profile: bool) -> tuple[float, float]:
    """Milliseconds of CPU per request: this process's, and the database backends'."""
    profiler = cProfile.Profile(time.process_time) if profile else None
    database_before = backend_cpu_seconds(application)
    started = time.process_time()
    if profiler:
        profiler.enable()
    for environ in requests:
        status = call(app, environ)
        if status != 200:
            raise SystemExit(f"{environ['PATH_INFO']} answered {status}")
    if profiler:
        profiler.disable()
    process = time.process_time() - started
    database = backend_cpu_seconds(application) - database_before
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stdout)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(60)
    return 1000 * process / len(requests), 1000 * database / len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--requests", type=int, default=2000, help="per call")
    parser.add_argument("--profile", choices=CALLS, help="profile this call instead")
    args = parser.parse_args()
    random.seed(1)
    application = f"read-cpu-{uuid.uuid4().hex[:8]}"
    with (
        tempfile.TemporaryDirectory(prefix="bench-read-cpu-") as scratch_dir,
        seeded_schema(args.models, application) as url,
    ):
        scratch = Path(scratch_dir)
        # As in production: metrics in multiprocess files (prometheus-client reads the variable
        # when first imported, which the app does), one JSON log line per request.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(scratch / "metrics")
        from registry import create_app

        settings = Settings(data_dir=scratch, database_url=url)
        with open_sessions(make_engine(url)).begin() as session:
            token = tokens.create_token(session, "bench", "read", "bench").secret
        app = create_app(settings)
        logs = (scratch / "log").open("w")
        with redirect_stderr(logs):
            configure_logging("INFO")
            calls = [args.profile] if args.profile else list(CALLS)
            for name in calls:
                for environ in environs(CALLS[name], args.models, WARM_UP, token):
                    call(app, environ)
            print(f"{args.models} models x {VERSIONS_PER_MODEL} versions, {args.requests} requests")
            print("| call | API process CPU/req | PostgreSQL CPU/req | total |")
            print("|---|---|---|---|", flush=True)
            for name in calls:
                requests = environs(CALLS[name], args.models, args.requests, token)
                process, database = measure(app, requests, application, bool(args.profile))
                total = process + database
                print(f"| {name} | {process:.3f} ms | {database:.3f} ms | {total:.3f} ms |")
            logging.shutdown()
        app.extensions["registry"].close()


if __name__ == "__main__":
    main()
