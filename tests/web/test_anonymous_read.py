"""REGISTRY_ANONYMOUS_READ: the pages open without signing in, and nothing can be changed."""

from __future__ import annotations

import requests

from registry.settings import Settings
from tests.conftest import start_live_registry


def test_with_anonymous_reads_the_pages_open_without_a_sign_in_and_show_no_write_controls(
    tmp_path,
):
    live, stop = start_live_registry(Settings(data_dir=tmp_path, anonymous_read=True))
    try:
        live.http.post(live.api("/models"), json={"name": "open-model"}).raise_for_status()
        browser = requests.Session()
        listed = browser.get(f"{live.url}/ui/", allow_redirects=False, timeout=10)
        model_page = browser.get(f"{live.url}/ui/models/open-model", timeout=10)
        upload = browser.get(f"{live.url}/ui/upload", allow_redirects=False, timeout=10)
    finally:
        stop()

    assert listed.status_code == 200
    assert "open-model" in listed.text
    assert "Sign in" in listed.text
    assert model_page.status_code == 200
    assert "Upload a new version" not in model_page.text
    assert upload.status_code == 303  # writing still needs a sign-in
    assert "/ui/sign-in" in upload.headers["Location"]
