"""`registry token create|list|revoke`: token administration on the database, no token needed."""

from __future__ import annotations

import getpass
import json

from click.testing import CliRunner

from registry.cli import main
from registry.db import make_engine, make_sessionmaker, upgrade
from registry.domain.ledger import audit, tokens
from registry.settings import Settings


def test_token_is_printed_once_listed_without_its_secret_and_revoked(tmp_path):
    settings = Settings(data_dir=tmp_path / "data")
    upgrade(settings.effective_database_url)

    def run(*args: str):
        return CliRunner().invoke(main, [*args, "--data-dir", str(settings.data_dir)])

    created = run("token", "create", "--name", "ci", "--scope", "write", "--expires", "30d")
    secret = created.stdout.strip()
    before = json.loads(run("token", "list", "--json").stdout)
    revoked = run("token", "revoke", "ci")
    after = json.loads(run("token", "list", "--json").stdout)
    twice = run("token", "create", "--name", "ci")

    assert created.exit_code == 0, created.output
    assert secret.startswith("tfr_") and "cannot be shown again" in created.stderr
    [listed] = before
    assert (listed["name"], listed["scope"], listed["status"]) == ("ci", "write", "active")
    assert listed["expires_at"] and secret not in json.dumps(before)
    assert revoked.exit_code == 0 and after[0]["status"] == "revoked"
    assert twice.exit_code == 1 and "names are never reused" in twice.output
    engine = make_engine(settings.effective_database_url)
    with make_sessionmaker(engine)() as session:
        logged = [(e["action"], e["actor"]) for e in audit.all_events(session)]
        assert tokens.hash_secret(secret) == tokens.list_tokens(session)[0].token_hash
    engine.dispose()
    actor = f"cli:{getpass.getuser()}"
    assert logged == [("token.created", actor), ("token.revoked", actor)]
