"""Steps the billing and duplicates browser tests share: a client made through the API,
a browser page in a language, and the client's overview checked against the JSON."""
from decimal import Decimal

from gateway.web import i18n


def open_page(browser, locale):
    context = browser.new_context(locale=locale.replace("_", "-"),
                                  viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    return context, page, dialogs


def new_client(web, api, name, **fields):
    answer = api.post(f"{web.url}/api/v1/clients", json={"name": name, **fields}, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()


def overview_matches_the_json(page, web, api, client_id, locale):
    """The client's overview as the page shows it equals GET .../overview (same day): the
    invoice figures and every slice of the pie chart. Answers the JSON."""
    expected = api.get(f"{web.url}/api/v1/clients/{client_id}/overview", timeout=10).json()
    formats = i18n.Formats(locale)
    for status, figure in expected["invoices"].items():
        cells = page.locator(f"tr:has([data-figure='invoices.{status}']) td")
        assert cells.nth(0).inner_text() == str(figure["count"]), status
        shown = cells.nth(1).inner_text()
        for currency, amount in figure["amount"].items():
            assert formats.money(Decimal(amount), currency) in shown, (status, shown)
    currencies = {c for item in expected["chart"]["invoices"] for c in item["amount"]}
    assert page.locator("svg[role=img]").count() == len(currencies)
    for item in expected["chart"]["invoices"]:
        for currency, amount in item["amount"].items():
            cell = page.locator(f"[data-chart='{currency}.{item['label']}']")
            assert cell.inner_text() == formats.money(Decimal(amount), currency), item
    for name in ("open", "accepted"):
        assert page.locator(f"[data-figure='quotes.{name}'] strong").inner_text() == \
            str(expected["quotes"][name]["count"])
    for name in ("total", "finalized"):
        assert page.locator(f"[data-figure='purchase_orders.{name}'] strong").inner_text() == \
            str(expected["purchase_orders"][name]["count"])
    return expected


def back_to_the_client(page):
    """Follow the document's link back to the client (it carries the write's token)."""
    page.locator("#document p.back a").click()
    page.wait_for_selector("[data-figure='invoices.draft']")


def slice_amount(expected, label, currency="EUR"):
    for item in expected["chart"]["invoices"]:
        if item["label"] == label:
            return Decimal(item["amount"].get(currency, "0"))
    return Decimal(0)
