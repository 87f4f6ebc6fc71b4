"""Pages read without a browser: REGISTRY_ANONYMOUS_READ, and the audit chain's verdict."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import update

from registry.db.models import AuditEvent
from registry.settings import Settings
from tests.conftest import LiveRegistry, start_live_registry


@pytest.fixture
def open_registry(tmp_path) -> Iterator[LiveRegistry]:
    """The pages on SQLite, readable without a sign-in, with one model."""
    live, stop = start_live_registry(Settings(data_dir=tmp_path, anonymous_read=True))
    live.http.post(live.api("/models"), json={"name": "open-model"}).raise_for_status()
    yield live
    stop()


def test_with_anonymous_reads_the_pages_open_without_a_sign_in_and_show_no_write_controls(
    open_registry,
):
    browser = requests.Session()
    listed = browser.get(f"{open_registry.url}/ui/", allow_redirects=False, timeout=10)
    model_page = browser.get(f"{open_registry.url}/ui/models/open-model", timeout=10)
    upload = browser.get(f"{open_registry.url}/ui/upload", allow_redirects=False, timeout=10)

    assert listed.status_code == 200
    assert "open-model" in listed.text
    assert "Sign in" in listed.text
    assert model_page.status_code == 200
    assert "Upload a new version" not in model_page.text
    assert upload.status_code == 303  # writing still needs a sign-in
    assert "/ui/sign-in" in upload.headers["Location"]


def test_verifying_a_tampered_audit_chain_names_the_first_bad_event(open_registry):
    with open_registry.services.sessions.begin() as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.seq == 2).values(details={"description": "x"})
        )

    page = requests.get(f"{open_registry.url}/ui/audit?verify=1", timeout=10)

    verdict = re.search(r'id="chain-verdict">\s*(.*?)\s*</p>', page.text, re.S).group(1)
    assert verdict.startswith("Chain broken at event 2:")
