"""Pages read without a browser: REGISTRY_ANONYMOUS_READ, paging, the audit chain's verdict."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import pytest
import requests
from sqlalchemy import update

from registry.db.models import AuditEvent
from registry.settings import Settings
from tests.conftest import LiveRegistry, start_live_registry
from tests.files import fake_tflite


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


def test_models_and_audit_pages_are_paged_with_next_links(open_registry):
    for number in range(55):
        created = open_registry.http.post(
            open_registry.api("/models"), json={"name": f"m{number:02}"}
        )
        created.raise_for_status()
    reader = requests.Session()

    first = reader.get(f"{open_registry.url}/ui/", timeout=10).text
    second = reader.get(f"{open_registry.url}/ui/{next_link(first)}", timeout=10).text
    events = reader.get(f"{open_registry.url}/ui/audit", timeout=10).text
    more_events = reader.get(f"{open_registry.url}/ui/audit{next_link(events)}", timeout=10).text

    names = re.findall(r'href="/ui/models/([^"/]+)"', first + second)
    assert len(names) == len(set(names)) == 56  # 55 and open-model, none twice
    assert "Next page" not in second
    assert re.findall(r"<tr><td>(\d+)</td>", events)[-1] == "50"
    assert re.findall(r"<tr><td>(\d+)</td>", more_events)[0] == "51"


def next_link(page: str) -> str:
    """The query of a page's link to its next page."""
    return html.unescape(re.search(r'href="[^"?]*(\?[^"]*)" rel="next"', page).group(1))


def test_model_page_lists_versions_newest_first_then_links_to_older_ones(open_registry, tmp_path):
    for number in range(52):
        open_registry.upload("open-model", fake_tflite(tmp_path / f"v{number}.tflite"))
    reader = requests.Session()

    first = reader.get(f"{open_registry.url}/ui/models/open-model", timeout=10).text
    older = reader.get(
        f"{open_registry.url}/ui/models/open-model{next_link(first)}", timeout=10
    ).text

    listed = [re.findall(r'versions/(\d+)">v\1</a></th>', page) for page in (first, older)]
    assert listed == [[str(n) for n in range(52, 2, -1)], ["2", "1"]]
