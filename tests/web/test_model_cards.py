"""A model card on the model's page, in a real browser: markdown rendered, hostile HTML and
links left inert."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.conftest import look

HOSTILE_CARD = """# Digits classifier

Trained on **MNIST**; see [the paper](https://example.org/paper).

<script>window.cardScriptRan = true; alert("card")</script>

<img src="x" onerror="window.cardHandlerRan = true">

[Click me](javascript:window.cardLinkRan=true) and <javascript:window.cardAutolinkRan=true>

| input | shape |
|---|---|
| images | 28x28 |
"""


def test_model_card_renders_markdown_and_leaves_script_and_javascript_links_inert(
    admin, api, registry_up
):
    name = "carded-model"
    api.post(registry_up.page("/api/v1/models"), json={"name": name}).raise_for_status()
    api.put(
        registry_up.page(f"/api/v1/models/{name}/readme"),
        data=HOSTILE_CARD.encode(),
        headers={"Content-Type": "text/markdown"},
    ).raise_for_status()
    dialogs: list[str] = []
    admin.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    admin.goto(registry_up.page(f"/ui/models/{name}"))

    card = admin.locator(".model-card")
    expect(card.get_by_role("heading", name="Digits classifier")).to_be_visible()
    expect(card.get_by_role("link", name="the paper")).to_have_attribute(
        "href", "https://example.org/paper"
    )
    expect(card.locator("table td").first).to_have_text("images")
    expect(card).to_contain_text('<script>window.cardScriptRan = true; alert("card")</script>')
    expect(card).to_contain_text("[Click me](javascript:window.cardLinkRan=true)")
    assert card.locator("script, img, [onerror]").count() == 0
    assert admin.locator('a[href^="javascript:" i]').count() == 0
    admin.get_by_text("Click me").click()  # plain text: nothing to follow
    ran = admin.evaluate(
        "[window.cardScriptRan, window.cardHandlerRan, window.cardLinkRan, window.cardAutolinkRan]"
    )
    assert ran == [None, None, None, None]
    assert dialogs == []
    look(admin, "model-card")
