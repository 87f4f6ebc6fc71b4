"""The audit log: one event per change naming its actor, filters and pages, a chain that
verifies and names the first event that was tampered with."""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from registry.db import upgrade
from registry.domain import catalog
from registry.domain.ledger import tokens
from registry.settings import Settings
from registry.wiring import build_services
from tests.cli.invoke import registry_cli
from tests.conftest import (
    backend_settings,
    bearer_session,
    sibling_registry,
    start_live_registry,
)
from tests.files import fake_tflite


def cli(registry, *args: str) -> tuple[int, str]:
    result = registry_cli(registry, *args)
    return result.exit_code, result.output


def test_each_change_is_one_event_naming_the_token_as_its_actor(registry, model_name, tmp_path):
    first = fake_tflite(tmp_path / "first.tflite")
    alias_url = registry.api(f"/models/{model_name}/aliases/production")
    registry.http.post(registry.api("/models"), json={"name": model_name, "description": "d"})
    registry.upload(model_name, first)
    registry.http.put(alias_url, json={"version": 1})
    registry.upload(model_name, fake_tflite(tmp_path / "second.tflite"))
    registry.http.put(alias_url, json={"version": 2})
    registry.http.delete(alias_url)
    registry.http.post(registry.api(f"/models/{model_name}/versions/1/conversions"), json={})

    logged = registry.audit_events(model=model_name)

    assert [e["action"] for e in logged] == [
        "model.created",
        "version.uploaded",
        "job.queued",
        "alias.set",
        "version.uploaded",
        "job.queued",
        "alias.moved",
        "alias.removed",
        "job.queued",
        "conversion.rerun",
    ]
    assert {e["actor"] for e in logged} == {registry.token_name}
    assert logged[1]["subject"] == f"model/{model_name}/version/1"
    assert logged[1]["details"]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert logged[6]["details"] == {"version": 2, "previous_version": 1}
    assert logged[9]["details"]["targets"] == ["describe"]
    assert [e["seq"] for e in logged] == sorted(e["seq"] for e in logged)


def test_issuing_and_revoking_a_token_are_audited_without_its_secret(registry):
    name = f"t-{uuid.uuid4().hex[:8]}"

    secret = registry.http.post(registry.api("/tokens"), json={"name": name}).json()["token"]
    registry.http.delete(registry.api(f"/tokens/{name}"))

    logged = [e for e in registry.audit_events(action="token.*") if e["subject"] == f"token/{name}"]
    assert [(e["action"], e["actor"]) for e in logged] == [
        ("token.created", registry.token_name),
        ("token.revoked", registry.token_name),
    ]
    assert logged[0]["details"]["scope"] == "read"
    assert secret not in json.dumps(logged)


def test_events_filter_by_actor_action_and_time_and_page_with_a_cursor(registry):
    actor = f"t-{uuid.uuid4().hex[:8]}"
    writer = bearer_session(registry.issue_token(actor, "write"))
    names = [f"m-{uuid.uuid4().hex[:8]}" for _ in range(5)]
    for name in names:
        assert writer.post(registry.api("/models"), json={"name": name}).status_code == 201

    mine = registry.audit_events(actor=actor)
    first_page = registry.http.get(registry.api("/audit"), params={"actor": actor, "limit": 2})
    after_third = registry.audit_events(actor=actor, since=mine[2]["time"])
    before_third = registry.audit_events(actor=actor, until=mine[2]["time"])

    assert [e["model"] for e in mine] == names
    assert [e["model"] for e in first_page.json()["events"]] == names[:2]
    assert [e["model"] for e in registry.audit_events(actor=actor, limit=2)] == names
    assert [e["model"] for e in after_third] == names[2:]
    assert [e["model"] for e in before_third] == names[:2]
    assert len(registry.audit_events(actor=actor, action="model.*")) == 5
    assert registry.audit_events(actor=actor, action="version.uploaded") == []
    bad_time = registry.http.get(registry.api("/audit"), params={"since": "last tuesday"})
    assert bad_time.status_code == 422


def test_chain_verifies_and_its_export_verifies_offline_until_a_line_is_edited(
    registry, model_name, tmp_path
):
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()
    export = tmp_path / "audit.jsonl"

    verdict = registry.http.get(registry.api("/audit/verify")).json()
    exported = cli(registry, "audit", "export", "-o", str(export))
    offline = cli(registry, "audit", "verify", "--file", str(export))
    lines = export.read_text().splitlines()
    edited = json.loads(lines[len(lines) // 2])
    edited["details"]["forged"] = True
    lines[len(lines) // 2] = json.dumps(edited)
    export.write_text("\n".join(lines) + "\n")
    tampered = cli(registry, "audit", "verify", "--file", str(export))

    assert verdict["ok"] is True and verdict["events"] == len(lines)
    assert exported[0] == 0, exported[1]
    assert offline == (0, f"audit chain ok: {len(lines)} events\n")
    assert tampered[0] == 9
    assert f"BROKEN at event {edited['seq']}: hash does not match" in tampered[1]


@pytest.fixture(params=["postgres", "sqlite"])
def own_registry(request, tmp_path, s3_server, postgres_schema_url, api_broker):
    """A registry with an audit log of its own, for tests that break it."""
    settings = backend_settings(request.param, tmp_path, s3_server, postgres_schema_url, api_broker)
    live, stop = start_live_registry(settings)
    yield live
    stop()


def test_row_altered_in_the_database_is_reported_at_its_sequence_number(own_registry, tmp_path):
    for number in range(3):
        own_registry.upload(f"m{number}", fake_tflite(tmp_path / f"m{number}.tflite"))
    assert own_registry.http.get(own_registry.api("/audit/verify")).json()["ok"] is True
    engine = own_registry.services.engine
    with engine.begin() as connection:
        # On PostgreSQL the append-only trigger stands in the way: an intruder with the
        # owner's rights can lift it, which is exactly what the hash chain is for.
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        connection.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE seq = 5"))
        if engine.dialect.name == "postgresql":
            connection.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))

    verdict = own_registry.http.get(own_registry.api("/audit/verify")).json()
    code, output = cli(own_registry, "audit", "verify")

    assert verdict["ok"] is False
    assert verdict["first_bad_seq"] == 5
    assert verdict["events"] == 4
    assert code == 9 and "BROKEN at event 5" in output


def test_postgres_refuses_update_delete_and_truncate_of_audit_events(
    postgres_schema_url, tmp_path, api_broker
):
    url = postgres_schema_url()
    upgrade(url)
    services = build_services(Settings(data_dir=tmp_path, database_url=url, broker_url=api_broker))
    with services.sessions.begin() as session:
        catalog.create_model(session, "audited", actor="tests")
        tokens.create_token(session, "someone", "read", "tests")
    services.close()
    engine = create_engine(url)

    for statement in (
        "UPDATE audit_events SET actor = 'mallory' WHERE seq = 1",
        "DELETE FROM audit_events WHERE seq = 2",
        "TRUNCATE audit_events",
    ):
        with (
            pytest.raises(DBAPIError, match="audit_events is append-only"),
            engine.begin() as connection,
        ):
            connection.execute(text(statement))
    with engine.connect() as connection:
        actors = connection.execute(text("SELECT actor FROM audit_events ORDER BY seq")).all()
    engine.dispose()
    assert actors == [("tests",), ("tests",)]


def test_downloads_are_audited_only_when_audit_downloads_is_on(registry, model_name, tmp_path):
    registry.upload(model_name, fake_tflite(tmp_path / "m.tflite")).raise_for_status()
    path = f"/models/{model_name}/versions/1/artifacts/tflite"

    assert registry.http.get(registry.api(path)).status_code == 200
    with sibling_registry(registry, audit_downloads=True) as auditing:
        assert auditing.http.get(auditing.api(path)).status_code == 200
        auditor = auditing.token_name

    logged = registry.audit_events(model=model_name, action="artifact.downloaded")
    assert [(e["actor"], e["details"]["kind"]) for e in logged] == [(auditor, "tflite")]
    assert logged[0]["subject"] == f"model/{model_name}/version/1/artifact/tflite"
