"""Dependencies point one way: each package imports only what lies below it.

Each rule imports a package in a fresh interpreter and lists what that dragged in; a rule
broken by a new import fails here, naming the module that should not have been loaded.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVER_SIDE = (
    "flask",
    "sqlalchemy",
    "alembic",
    "boto3",
    "celery",
    "kombu",
    "tensorflow",
    "keras",
    "registry.api",
    "registry.db",
    "registry.domain",
    "registry.storage",
    "registry.convert",
    "registry.services",
    "workers",
    "migrations",
)

# (what is imported, what it must not load)
RULES = {
    "the client imports nothing server-side": (["registry.client"], SERVER_SIDE),
    "the command line imports nothing server-side until a server command runs": (
        ["registry.cli"],
        SERVER_SIDE,
    ),
    "archives need no database, storage or TensorFlow": (
        ["registry.archives.directories", "registry.archives.entries", "registry.archives.streams"],
        SERVER_SIDE,
    ),
    "upload inspection needs no database and no TensorFlow": (
        ["registry.domain.inspection"],
        ("sqlalchemy", "flask", "boto3", "tensorflow", "keras", "registry.db", "registry.storage"),
    ),
    "convert imports nothing of the registry, and TensorFlow only in its own process": (
        ["registry.convert"],
        (
            "tensorflow",
            "keras",
            "flask",
            "sqlalchemy",
            "registry.api",
            "registry.db",
            "registry.domain",
            "registry.storage",
            "registry.services",
            "registry.settings",
            "workers",
        ),
    ),
    "the domain knows nothing of HTTP, the broker or TensorFlow": (
        [
            "registry.domain.ledger.audit",
            "registry.domain.ledger.tokens",
            "registry.domain.jobs",
            "registry.domain.catalog",
            "registry.domain.catalog.aliases",
            "registry.domain.catalog.uploads",
            "registry.domain.catalog.lineage",
            "registry.domain.catalog.serving",
            "registry.domain.webhooks",
        ],
        (
            "flask",
            "werkzeug",
            "httpx",
            "celery",
            "kombu",
            "tensorflow",
            "registry.api",
            "workers",
        ),
    ),
    "the ledger and jobs sit below the catalog": (
        ["registry.domain.ledger.audit", "registry.domain.ledger.tokens", "registry.domain.jobs"],
        ("registry.domain.catalog", "registry.domain.webhooks"),
    ),
    "the API talks to the broker only through the job queue interface": (
        ["registry.api", "registry.services"],
        ("celery", "kombu", "workers", "tensorflow", "keras"),
    ),
    "the web pages use the domain and the API's helpers, never the workers or TensorFlow": (
        [
            "registry.web",
            "registry.web.signin",
            "registry.web.catalog_pages",
            "registry.web.changes",
            "registry.web.ledger_pages",
        ],
        ("celery", "kombu", "workers", "registry.convert", "tensorflow", "keras"),
    ),
    "storage knows nothing of the registry above it": (
        ["registry.storage"],
        ("flask", "sqlalchemy", "registry.api", "registry.db", "registry.domain", "workers"),
    ),
    "the registry's own code never imports its test helpers": (
        ["registry.api", "registry.cli", "registry.client", "workers.tasks"],
        ("registry.testing", "tests"),
    ),
    "benchmarks use the registry, never the tests": (
        ["bench.stack", "bench.transfer", "bench.conversion"],
        ("tests",),
    ),
    "the database layer does not import the migrations": (
        ["registry.db"],
        ("migrations", "registry.domain", "registry.api", "flask"),
    ),
}

PROBE = """
import importlib, json, sys
for name in sys.argv[2:]:
    importlib.import_module(name)
banned = json.loads(sys.argv[1])
loaded = [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in banned)]
print(json.dumps(sorted(loaded)))
"""


@pytest.mark.parametrize("rule", sorted(RULES))
def test_import_rule(rule):
    imported, banned = RULES[rule]
    import json

    run = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(banned), *imported],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    loaded = json.loads(run.stdout)
    assert loaded == [], f"{rule}: importing {imported} loaded {loaded}"
