"""Specs for fitting an Adaptive Card into a Teams Workflows webhook message (28 KB)."""

from __future__ import annotations

from typing import Any

from automation.cards import TRIMMED_NOTE, WEBHOOK_LIMIT, fit_card, message_size

LINK = "https://contoso.sharepoint.com/sites/bousai/Shared%20Documents/report.xlsx"


def card(rows: int) -> dict[str, Any]:
    """A report card: a title and ``rows`` text blocks of changed items."""
    body = [{"type": "TextBlock", "text": "令和8年台風第10号 被害状況 第3報"}]
    body += [
        {"type": "TextBlock", "text": f"項目{n}: 前報 {n} → 今回 {n + 1}（人）"}
        for n in range(rows)
    ]
    return {"type": "AdaptiveCard", "version": "1.4", "body": body}


def test_a_card_that_fits_is_sent_as_it_is() -> None:
    """A small card is not changed."""
    small = card(10)
    assert fit_card(small, LINK) is small


def test_a_large_card_is_cut_to_fit_the_webhook_limit() -> None:
    """A card of over 28 KB loses trailing elements until the whole message fits."""
    fitted = fit_card(card(2000), LINK)
    assert message_size(card(2000)) > WEBHOOK_LIMIT
    assert message_size(fitted) <= WEBHOOK_LIMIT


def test_a_cut_card_keeps_its_head_and_says_so() -> None:
    """The title stays first and the last element tells the reader where the rest is."""
    fitted = fit_card(card(2000), LINK)
    assert fitted["body"][0]["text"] == "令和8年台風第10号 被害状況 第3報"
    assert fitted["body"][-1]["text"] == TRIMMED_NOTE


def test_a_cut_card_links_the_merged_workbook() -> None:
    """An https link to the merged workbook becomes an Action.OpenUrl button."""
    fitted = fit_card(card(2000), LINK)
    assert fitted["actions"] == [
        {"type": "Action.OpenUrl", "title": "統合ブックを開く", "url": LINK}
    ]


def test_a_local_path_is_not_offered_as_a_link() -> None:
    """Only https links (a SharePoint web URL) are buttons; a local path is not."""
    assert "actions" not in fit_card(card(2000), "/srv/automation/artefacts/report.xlsx")


def test_the_card_is_cut_as_little_as_possible() -> None:
    """Keeping one more element would not fit."""
    fitted = fit_card(card(2000), LINK)
    kept = len(fitted["body"]) - 1
    longer = dict(fitted, body=[*card(2000)["body"][: kept + 1], fitted["body"][-1]])
    assert message_size(longer) > WEBHOOK_LIMIT - 512


def test_a_card_listing_the_first_few_of_many_links_the_workbook() -> None:
    """A list capped in the card (id see-workbook) gets a button opening the merged workbook."""
    link = "https://contoso.sharepoint.com/book.xlsx"
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "id": "see-workbook"}]}
    fitted = fit_card(card, link)
    assert fitted["actions"] == [
        {"type": "Action.OpenUrl", "title": "統合ブックを開く", "url": link}
    ]


def test_a_card_listing_everything_gets_no_button() -> None:
    """Without a capped list, a card that fits is sent as it is."""
    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "x"}]}
    assert fit_card(card, "https://contoso.sharepoint.com/book.xlsx") is card
