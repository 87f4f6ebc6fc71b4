"""The registry's pages in a real browser, against `registry up`."""

from __future__ import annotations

import hashlib
import html
import re
import time
from pathlib import Path

import requests
from playwright.sync_api import expect

from tests.web.conftest import CONVERSION_TIMEOUT_MS, PHONE, look, new_context, sign_in

MODEL = "two-by-two"


def test_root_leads_to_the_pages_and_they_ask_for_a_sign_in(browser, registry_up):
    context = new_context(browser)
    page = context.new_page()

    page.goto(registry_up.url + "/")

    assert page.url.startswith(registry_up.page("/ui/sign-in"))
    look(page, "sign-in")
    context.close()


def test_a_wrong_token_is_refused_on_the_sign_in_page(browser, registry_up):
    context = new_context(browser)
    page = context.new_page()

    page.goto(registry_up.page("/ui/sign-in"))
    page.get_by_label("Access token").fill("tfr_not-a-token")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("not one this registry issued")
    assert "registry_signin" not in {c["name"] for c in context.cookies()}
    context.close()


def test_sign_in_cookie_is_httponly_samesite_strict_and_signed(admin, registry_up):
    [cookie] = [c for c in admin.context.cookies() if c["name"] == "registry_signin"]

    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert registry_up.admin_token not in cookie["value"].split(".")[-1]
    tampered = requests.get(
        registry_up.page("/ui/"),
        cookies={"registry_signin": cookie["value"][:-2] + "xx"},
        allow_redirects=False,
        timeout=10,
    )
    assert tampered.status_code == 303
    assert "/ui/sign-in" in tampered.headers["Location"]


def test_upload_through_the_form_becomes_ready_without_reloading(uploaded, admin):
    assert uploaded.reloaded is False
    expect(admin.locator("#version-status")).to_have_text("ready")
    look(admin, "version-ready")


def test_version_page_shows_signature_parity_and_jobs(uploaded, admin):
    admin.goto(uploaded.version_url)

    signature = admin.get_by_role("table", name="main: inputs")
    expect(signature).to_contain_text("img")
    expect(signature).to_contain_text("[?, 8, 8, 3]")
    expect(admin.get_by_role("table", name=re.compile("^tflite on"))).to_contain_text("score")
    expect(admin.get_by_text("normalized RMS error").first).to_be_visible()
    expect(admin.get_by_role("button", name="Re-run conversions")).to_be_visible()
    expect(admin.locator("details summary").first).to_contain_text("job")


def test_downloaded_tflite_matches_the_sha256_on_the_page(uploaded, admin):
    admin.goto(uploaded.version_url)
    shown = admin.get_by_label("sha256 of tflite").input_value()

    with admin.expect_download() as download:
        admin.get_by_role("link", name=re.compile(r"\.tflite$|^tflite$")).click()

    content = Path(download.value.path()).read_bytes()
    assert hashlib.sha256(content).hexdigest() == shown


def test_lineage_graph_draws_each_conversion_and_links_to_the_holders(uploaded, admin):
    admin.goto(uploaded.version_url)
    admin.get_by_role("link", name="Lineage graph").click()

    graph = admin.locator("svg")
    for kind in ("keras", "savedmodel", "frozen_pb", "tflite"):
        expect(graph.get_by_text(kind, exact=True)).to_be_visible()
    expect(graph.get_by_text("parity passed").first).to_be_visible()
    look(admin, "lineage")
    graph.get_by_text("tflite", exact=True).click()
    expect(admin.get_by_role("heading", level=1)).to_have_text("Versions holding these bytes")
    expect(admin.get_by_role("link", name=f"{MODEL} v1")).to_be_visible()
    look(admin, "holders")


def test_alias_moves_and_the_gate_refuses_a_version_whose_parity_failed(
    uploaded, admin, api, registry_up, int8_breaking_sample
):
    with open(int8_breaking_sample.path, "rb") as stream:
        answer = api.post(
            registry_up.page(f"/api/v1/models/{MODEL}/versions"),
            files={"file": (int8_breaking_sample.path.name, stream)},
            data={"targets": "tflite_int8"},
        )
    assert answer.status_code == 202, answer.text
    wait_for_status(api, registry_up, 2, "failed")
    admin.goto(registry_up.page(f"/ui/models/{MODEL}"))

    move_alias(admin, "production", "1")
    expect(admin.get_by_text("production").first).to_be_visible()
    move_alias(admin, "production", "2")

    refusal = admin.get_by_role("alert")
    expect(refusal).to_contain_text("was not moved to v2")
    expect(refusal.get_by_role("table")).to_contain_text("FAILED")
    look(admin, "alias-refused")
    assert api.get(registry_up.page(f"/api/v1/models/{MODEL}")).json()["aliases"] == {
        "production": 1
    }
    admin.goto(registry_up.page(f"/ui/models/{MODEL}"))
    history = admin.get_by_role("table", name="Alias changes, newest first")
    expect(history.locator("tbody tr").first).to_contain_text("refused v2")
    look(admin, "model")


def move_alias(page, alias: str, version: str) -> None:
    page.get_by_label("Alias", exact=True).fill(alias)
    page.get_by_label("Version", exact=True).select_option(version)
    page.get_by_role("button", name="Move alias").click()


def wait_for_status(api, registry_up, number: int, wanted: str, timeout: float = 300) -> None:
    url = registry_up.page(f"/api/v1/models/{MODEL}/versions/{number}")
    deadline = time.monotonic() + timeout
    while (status := api.get(url).json()["status"]) != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status == wanted


def test_compare_marks_the_inputs_a_changed_signature_added_and_removed(
    uploaded, admin, registry_up, api, int8_breaking_sample
):
    wait_for_status(api, registry_up, 2, "failed")
    admin.goto(registry_up.page(f"/ui/models/{MODEL}/compare?a=1&b=2"))

    expect(admin.get_by_role("row", name=re.compile(r"^main inputs img"))).to_contain_text(
        "removed"
    )
    expect(admin.get_by_role("row", name=re.compile(r"^main inputs x"))).to_contain_text("added")
    look(admin, "compare")


def test_audit_page_filters_and_verifies_the_chain(uploaded, admin, registry_up):
    admin.goto(registry_up.page("/ui/audit"))
    admin.get_by_label("Model").fill(MODEL)
    admin.get_by_role("button", name="Filter").click()
    rows = admin.locator("tbody tr")
    expect(rows.first).to_contain_text(MODEL)
    admin.get_by_role("button", name="Verify the chain").click()

    expect(admin.locator("#chain-verdict")).to_have_text(re.compile(r"Chain ok, \d+ events\."))
    look(admin, "audit")


def test_forged_form_post_without_the_csrf_token_is_refused(uploaded, admin, registry_up, api):
    forged = admin.request.post(
        registry_up.page(f"/ui/models/{MODEL}/aliases"),
        form={"alias": "forged", "version": "1"},
        max_redirects=0,
    )

    assert forged.status == 403
    assert "CSRF" in forged.text()
    assert "forged" not in api.get(registry_up.page(f"/api/v1/models/{MODEL}")).json()["aliases"]


def test_read_only_token_sees_no_write_controls_and_the_server_refuses_them(
    uploaded, admin, browser, registry_up
):
    admin.goto(registry_up.page("/ui/tokens"))
    admin.get_by_label("Name").fill("reader")
    admin.get_by_role("button", name="Create token").click()
    secret = admin.get_by_label("Secret").input_value()
    look(admin, "tokens")
    context = new_context(browser)
    reader = context.new_page()
    sign_in(reader, registry_up, secret)

    reader.goto(uploaded.version_url)
    expect(reader.get_by_role("button", name="Re-run conversions")).to_have_count(0)
    expect(reader.get_by_role("link", name="Upload")).to_have_count(0)
    reader.goto(registry_up.page(f"/ui/models/{MODEL}"))
    expect(reader.get_by_role("button", name="Move alias")).to_have_count(0)
    csrf = reader.locator("input[name=csrf_token]").first.input_value()
    refused = reader.request.post(
        registry_up.page(f"/ui/models/{MODEL}/versions/1/conversions"),
        form={"csrf_token": csrf},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "needs 'write'" in html.unescape(refused.text())
    context.close()


def test_signing_out_makes_the_pages_ask_for_a_sign_in_again(browser, registry_up, uploaded):
    context = new_context(browser)
    page = context.new_page()
    sign_in(page, registry_up, registry_up.admin_token)

    page.get_by_role("button", name="Sign out").click()
    page.goto(uploaded.version_url)

    assert page.url.startswith(registry_up.page("/ui/sign-in"))
    context.close()


def test_pages_fit_a_phone_screen(browser, registry_up, uploaded):
    context = new_context(browser, viewport=PHONE)
    page = context.new_page()
    sign_in(page, registry_up, registry_up.admin_token)

    for name, path in (("phone-models", "/ui/"), ("phone-version", uploaded.version_url)):
        page.goto(path if path.startswith("http") else registry_up.page(path))
        look(page, name)
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    context.close()


def test_the_first_tab_stop_skips_to_the_content(admin, registry_up):
    admin.goto(registry_up.page("/ui/"))

    admin.keyboard.press("Tab")
    first = admin.evaluate("document.activeElement.textContent")
    admin.keyboard.press("Enter")

    assert first == "Skip to content"
    assert admin.evaluate("document.activeElement.id") == "main"
    look(admin, "models")


def test_upload_form_works_without_javascript(browser, registry_up, keras_sample):
    context = new_context(browser, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, registry_up, registry_up.admin_token)

    page.goto(registry_up.page("/ui/upload?model=no-script"))
    page.get_by_label("Model file").set_input_files(str(keras_sample.path))
    page.get_by_role("button", name="Upload").click()

    page.wait_for_url(re.compile(r"/ui/models/no-script/versions/1$"))
    expect(page.get_by_role("link", name="Refresh now")).to_be_visible()
    context.close()


def test_rerun_queues_the_conversions_again_and_the_page_follows_them(uploaded, admin):
    admin.goto(uploaded.version_url)
    # The profile job is not a conversion: a re-run leaves it be.
    conversions = admin.locator("details").filter(
        has=admin.locator("summary").filter(has_not_text=": profile ")
    )
    conversions_before = conversions.count()

    admin.get_by_role("button", name="Re-run conversions").click()

    expect(conversions).to_have_count(2 * conversions_before)
    admin.locator("#version-status").get_by_text("ready").wait_for(timeout=CONVERSION_TIMEOUT_MS)


def test_revoking_a_token_on_the_tokens_page_signs_its_browser_out(admin, browser, registry_up):
    admin.goto(registry_up.page("/ui/tokens"))
    admin.get_by_label("Name").fill("short-lived")
    admin.get_by_label("Scope").select_option("write")
    admin.get_by_role("button", name="Create token").click()
    secret = admin.get_by_label("Secret").input_value()
    context = new_context(browser)
    holder = context.new_page()
    sign_in(holder, registry_up, secret)

    admin.get_by_role("button", name="Revoke short-lived").click()
    holder.goto(registry_up.page("/ui/"))

    expect(admin.get_by_role("row", name=re.compile("^short-lived"))).to_contain_text("revoked")
    assert holder.url.startswith(registry_up.page("/ui/sign-in"))
    context.close()


def test_a_refused_upload_is_explained_on_the_form(admin, registry_up, tmp_path):
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("these are not weights\n")
    admin.goto(registry_up.page("/ui/upload?model=refused"))

    admin.get_by_label("Model file").set_input_files(str(not_a_model))
    admin.get_by_role("button", name="Upload").click()

    expect(admin.locator("#upload-error")).to_contain_text("not a recognised model file")
    assert admin.url.endswith("/ui/upload?model=refused")
    look(admin, "upload-refused")
