"""Commands that run the registry: up, serve, worker, db upgrade."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from registry.cli.main import main
from registry.logs import configure_logging
from registry.settings import Settings

PR_SET_PDEATHSIG = 1  # prctl option: the signal a child gets when its parent dies


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every pending migration to the configured database."""
    settings = Settings.from_env()
    configure_logging(settings.log_level)  # before the imports: alembic logs as it loads
    from registry.db import upgrade

    upgrade(settings.effective_database_url)
    click.echo("database schema is up to date")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the API (development server; production runs it under gunicorn)."""
    from werkzeug.serving import run_simple

    from registry import create_app

    settings = Settings.from_env()
    configure_logging(settings.log_level)
    app = create_app(settings)
    # Werkzeug's own "Running on" line is silenced with its per-request lines (registry/logs.py).
    click.echo(f"registry API at http://{host}:{port}")
    run_simple(host, port, app, threaded=True)


@main.command()
@click.option("--concurrency", default=1, show_default=True, help="Conversions run at once.")
def worker(concurrency: int) -> None:
    """Run a conversion worker against the configured broker."""
    # Also set by Celery's setup_logging signal; configured here first so that nothing logged
    # while the worker loads comes out in another format.
    configure_logging(Settings.from_env().log_level)
    from workers.tasks import app

    app.worker_main(
        [
            "worker",
            "--loglevel=INFO",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the SQLite database and artifacts live (default: REGISTRY_DATA_DIR or "
    "~/.local/share/tf-registry).",
)
def up(host: str, port: int, data_dir: Path | None) -> None:
    """Run the whole registry on this machine: API and one worker, no servers needed."""
    from werkzeug.serving import make_server

    from registry import create_app
    from registry.cli.tokens import issue_first_admin_token

    overrides = {"data_dir": data_dir} if data_dir else {}
    settings = Settings.from_env(**overrides)
    configure_logging(settings.log_level)  # before alembic loads: it logs as it does
    from registry.db import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(settings.data_dir)
    upgrade(settings.effective_database_url)
    issue_first_admin_token(settings)

    env = {**os.environ, "REGISTRY_DATA_DIR": str(settings.data_dir)}
    # A process group of its own, so stopping takes the worker's pool children down with it;
    # told to stop when `registry up` dies, however it dies.
    worker_process = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "worker"],
        env=env,
        start_new_session=True,
        preexec_fn=_terminate_with_parent,
    )
    os.environ["REGISTRY_DATA_DIR"] = str(settings.data_dir)
    server = make_server(host, port, create_app(settings), threaded=True)

    def stop(_signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    url = f"http://{host}:{server.server_port}"
    # Where the CLI finds the local registry when no --url is given.
    (settings.data_dir / "url").write_text(url)
    click.echo(f"registry running at {url}  (data in {settings.data_dir})")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        _stop_process_group(worker_process)
        lock.close()


def _terminate_with_parent() -> None:
    """In a child before it runs: SIGTERM it when its parent exits (Linux's parent-death
    signal; elsewhere the parent's own shutdown is all there is)."""
    if sys.platform == "linux":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_process_group(leader: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM a process group, wait (bounded) until every member has exited, then SIGKILL
    whatever is left."""
    group = leader.pid
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with contextlib.suppress(subprocess.TimeoutExpired):
        leader.wait(timeout=timeout)
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)
    leader.wait()


def _lock_data_dir(data_dir: Path):
    """Only one `registry up` per data directory: SQLite and the local broker are not shared."""
    lock = (data_dir / "registry.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise click.ClickException(
            f"{data_dir} is in use by another `registry up`; stop it or pass --data-dir"
        ) from None
    return lock
