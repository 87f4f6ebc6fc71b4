"""Schemathesis against the registry's own OpenAPI document, on PostgreSQL and S3.

Every operation gets its boundary cases and generated requests, valid and invalid alike, sent
with a write token (an admin token where the operation needs that scope): no answer may be a
5xx, every answer must be one the document declares (status, content type, body schema,
headers), and a request the document rules out must be refused.

Schemathesis's engine runs the phases `st run` would; its pytest plugin is not used because
its fixture loader does not work with the pytest this project runs.
"""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events, from_schema

from tests.conftest import backend_settings, start_live_registry
from tests.files import fake_tflite

# Generated requests per operation, on top of the boundary cases (whole run: about 40 s).
EXAMPLES_PER_OPERATION = 50
# Hypothesis' simplest string matching the name pattern: the fuzzer finds this model, so reads
# of versions, artifacts and lineage reach real rows, not only 404s.
SEEDED_MODEL = "0"
CHECKS = {
    # A request the document allows may still be refused: an opaque cursor must be one the
    # registry issued, a name must exist.
    "positive_data_acceptance": {"enabled": False},
}


@pytest.fixture(scope="module")
def fuzzed_registry(tmp_path_factory, s3_server, postgres_schema_url, api_broker):
    settings = backend_settings(
        "postgres", tmp_path_factory.mktemp("fuzz"), s3_server, postgres_schema_url, api_broker
    )
    live, stop = start_live_registry(settings)
    seed = fake_tflite(tmp_path_factory.mktemp("seed") / "seed.tflite")
    for _ in range(2):
        live.upload(SEEDED_MODEL, seed).raise_for_status()
    live.http.put(
        live.api(f"/models/{SEEDED_MODEL}/aliases/production"), json={"version": 1}
    ).raise_for_status()
    yield live
    stop()


def fuzzed_document(live, write_token: str, own_tokens: set[str]):
    """The registry's document, loaded for the engine, sending the token each operation needs."""
    config = SchemathesisConfig.from_dict(
        {
            "base-url": live.url,
            "generation": {"max-examples": EXAMPLES_PER_OPERATION},
            # No links in the document: nothing for stateful testing to follow.
            "phases": {"stateful": {"enabled": False}},
            "checks": CHECKS,
        }
    )
    document = schemathesis.openapi.from_url(live.api("/openapi.json"), config=config)

    @document.auth()
    class OperationScopedTokens:
        def get(self, case, context) -> str:
            needed = {
                scope
                for requirement in case.operation.definition.raw.get("security", [])
                for scopes in requirement.values()
                for scope in scopes
            }
            return live.token if "admin" in needed else write_token

        def set(self, case, token: str, context) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    @document.hook
    def filter_path_parameters(context, path_parameters) -> bool:
        # Revoking its own tokens would leave every later request answered 401.
        return not (
            context.operation.path == "/api/v1/tokens/{name}"
            and path_parameters.get("name") in own_tokens
        )

    return document


def test_generated_requests_get_declared_answers_and_never_a_server_error(fuzzed_registry):
    live = fuzzed_registry
    write_name = f"fuzz-write-{uuid.uuid4().hex[:8]}"
    write_token = live.issue_token(write_name, "write")
    document = fuzzed_document(live, write_token, {live.token_name, write_name})

    scenarios: Counter[str] = Counter()
    requests_sent = 0
    failures: dict[tuple[str, str], str] = {}  # (operation, failure title): the first example
    for event in from_schema(document).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios[event.recorder.label] += 1
            requests_sent += len(event.recorder.interactions)
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.failure_info is not None:
                        failure = check.failure_info.failure
                        failures.setdefault(
                            (failure.operation, failure.title),
                            f"{failure.message}\n    {check.failure_info.code_sample}",
                        )
        elif isinstance(event, events.NonFatalError):
            failures.setdefault((event.label, "engine error"), str(event.value))
        elif isinstance(event, events.FatalError):
            failures.setdefault(("engine", "fatal error"), str(event.exception))

    print(f"fuzzed {len(scenarios)} operations with {requests_sent} requests")
    assert len(scenarios) >= 20, sorted(scenarios)
    assert requests_sent >= EXAMPLES_PER_OPERATION * len(scenarios)
    assert not failures, "\n".join(
        f"{where}: {title}\n  {why}" for (where, title), why in failures.items()
    )
