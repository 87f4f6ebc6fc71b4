"""The models list shows a card's first heading or paragraph, as plain text, cut short."""

from registry.web import SUMMARY_CHARACTERS, card_summary


def test_summary_is_the_first_heading_without_its_markup():
    card = "# Digits *classifier*\n\nTrained on **MNIST**; see [the paper](https://example.org)."

    assert card_summary(card) == "Digits classifier"


def test_summary_keeps_raw_html_as_text_for_the_template_to_escape():
    assert card_summary("Uses `tf.keras` <script>alert(1)</script>") == (
        "Uses tf.keras <script>alert(1)</script>"
    )


def test_a_long_paragraph_is_cut_at_the_summary_length():
    summary = card_summary("word " * 100)

    assert len(summary) == SUMMARY_CHARACTERS
    assert summary.endswith("…")


def test_an_empty_card_has_an_empty_summary():
    assert card_summary("") == ""
