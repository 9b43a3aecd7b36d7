"""The Clients screen, adding and editing a client, and the client page, as a person uses them."""
import re
import struct
import zlib
from datetime import date, timedelta
from decimal import Decimal

import pytest
import requests
from playwright.sync_api import expect

from clientfolio.demo import seed_demo
from gateway.web import i18n
from tests.browser.conftest import axe_violations, screenshot, sign_in, tab_to

XSS = '<img src=x onerror="document.title=\'pwned\'">'


def png():
    """A 2x2 red PNG."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def demo(web):
    """A workspace seeded like make run's demo, and a member of it."""
    person = web.user(role="member")
    token = web.api(person.workspace).headers["Authorization"].split()[1]
    seeded = seed_demo(web.url, token)
    return {"person": person, "client_id": seeded["client_id"],
            "api": web.api(person.workspace)}


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()
    assert dialogs == [], "a script ran from data on the page"


def test_an_empty_workspace_points_to_import(page, web):
    person = web.user(role="admin")
    sign_in(page, web, person)
    assert page.get_by_role("link", name="Import clients from a spreadsheet").is_visible()
    assert axe_violations(page) == []
    screenshot(page, "clients-empty")
    page.click("details.more-menu summary")
    page.get_by_role("link", name="Import", exact=True).click()
    assert page.get_by_role("heading", name="Import clients").is_visible()


def test_search_with_and_without_accents_and_the_date_added_filter(page, web):
    person = web.user(role="member")
    api = web.api(person.workspace)
    for name in ("São Paulo Seguros Ltda.", "Alan Insurance", "Fundació Catalana de Disseny"):
        assert api.post(f"{web.url}/api/v1/clients", json={"name": name},
                        timeout=10).status_code == 201
    sign_in(page, web, person)
    rows = page.locator("table.clients tbody tr")
    assert rows.count() == 3
    page.fill("#q", "sao")  # as you type: htmx swaps the results
    expect(rows).to_have_count(1)
    assert rows.first.inner_text().startswith("São Paulo Seguros Ltda.")
    assert "q=sao" in page.url  # the address keeps the filter (back, reload, share)
    page.fill("#q", "FUNDACIÓ")
    expect(rows.first).to_contain_text("Fundació Catalana de Disseny")
    expect(rows).to_have_count(1)
    page.fill("#q", "fundacio")
    page.wait_for_selector("table.clients >> text=Fundació Catalana de Disseny")
    page.fill("#q", "")
    expect(rows).to_have_count(3)
    today = date.today()
    page.fill("#added_from", (today + timedelta(days=1)).isoformat())
    page.locator("#added_from").dispatch_event("change")
    page.wait_for_selector("text=No client matches these filters.")
    page.fill("#added_from", (today - timedelta(days=1)).isoformat())
    page.fill("#added_to", today.isoformat())
    page.locator("#added_to").dispatch_event("change")
    expect(rows).to_have_count(3)
    assert axe_violations(page) == []
    screenshot(page, "clients")
    # Without JavaScript the same form works as a plain GET.
    answer = requests.get(f"{web.url}/clients?q=s%C3%A3o", timeout=10,
                          cookies={c["name"]: c["value"] for c in page.context.cookies()})
    assert "São Paulo Seguros Ltda." in answer.text and "Alan Insurance" not in answer.text
    page.fill("#q", "insurance")
    expect(rows).to_have_count(1)
    page.click("details.more-menu summary")
    export = page.get_by_role("link", name="Export (CSV)").get_attribute("href")
    assert export.startswith("/api/v1/clients/export?") and "q=insurance" in export
    exported = requests.get(f"{web.url}{export}", timeout=10,
                            cookies={c["name"]: c["value"] for c in page.context.cookies()})
    assert exported.status_code == 200 and "Alan Insurance" in exported.text
    assert "Fundació" not in exported.text


def test_add_a_client_with_a_bad_spanish_nif_then_a_good_one_by_keyboard(browser, web):
    person = web.user(role="member")
    context = browser.new_context(locale="es-ES", viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, web, person)
    tab_to(page, "a[href='/clients/new']")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{web.url}/clients/new")
    assert page.get_by_role("heading", name="Agregar cliente").is_visible()
    tab_to(page, "#f-name")
    page.keyboard.type("Muebles Ñandú S.L.")
    tab_to(page, "#f-country")
    page.keyboard.type("Espa")  # a select chooses by the first letters typed
    tab_to(page, "#f-tax_id")
    page.keyboard.type("B58378432")  # a wrong check digit
    tab_to(page, "#f-email")
    page.keyboard.type("hola@nandu.example.com")
    tab_to(page, "#f-address-street")
    page.keyboard.type("Carrer de Mallorca 401")
    page.keyboard.press("Enter")
    page.wait_for_selector("#f-tax_id-error")
    message = page.locator("#f-tax_id-error").inner_text()
    assert "NIF" in message and "not a valid" not in message  # the service's code, in Spanish
    assert page.locator("#f-tax_id").get_attribute("aria-invalid") == "true"
    # What the person typed is kept.
    assert page.input_value("#f-name") == "Muebles Ñandú S.L."
    assert page.input_value("#f-email") == "hola@nandu.example.com"
    assert page.input_value("#f-address-street") == "Carrer de Mallorca 401"
    assert page.input_value("#f-country") == "ES"
    assert page.input_value("#f-tax_id") == "B58378432"
    assert page.evaluate("document.activeElement.id") == "f-tax_id"
    assert axe_violations(page) == []
    screenshot(page, "add-client-error-es")
    page.keyboard.press("Control+A")
    page.keyboard.type("B58378431")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/clients/[0-9a-f-]{36}(\?.*)?$"))
    assert page.get_by_role("heading", name="Muebles Ñandú S.L.").is_visible()
    assert page.locator(".side-panel").inner_text().count("B58378431") == 1
    assert axe_violations(page) == []
    context.close()


def test_editing_with_a_conflict_shows_both_values_and_applies_mine_again(page, web):
    person = web.user(role="member")
    api = web.api(person.workspace)
    client = api.post(f"{web.url}/api/v1/clients", json={"name": "Conflict Co",
                                                         "email": "old@example.com"},
                      timeout=10).json()
    sign_in(page, web, person)
    page.goto(f"{web.url}/clients/{client['id']}/contact")
    page.fill("#f-category", "insurance")
    page.fill("#f-email", "mine@example.com")
    changed = api.patch(f"{web.url}/api/v1/clients/{client['id']}",
                        json={"email": "theirs@example.com"}, headers={"If-Match": '"1"'},
                        timeout=10)
    assert changed.status_code == 200
    page.get_by_role("button", name="Save", exact=True).click()
    conflict = page.locator("#conflict")
    conflict.wait_for()
    assert "theirs@example.com" in conflict.inner_text()
    assert "mine@example.com" in conflict.inner_text()
    assert page.input_value("#f-email") == "mine@example.com"
    assert page.input_value("#f-category") == "insurance"
    assert axe_violations(page) == []
    screenshot(page, "contact-conflict")
    page.get_by_role("button", name="Save my values").click()
    page.wait_for_selector("text=Saved.")
    stored = api.get(f"{web.url}/api/v1/clients/{client['id']}", timeout=10).json()
    assert (stored["email"], stored["category"]) == ("mine@example.com", "insurance")
    page.goto(f"{web.url}/clients/{client['id']}/history")
    history = page.locator("ol.timeline").inner_text()
    assert history.index(person.email) < history.index("API token")  # newest first
    screenshot(page, "history")


def figure_text(amounts, formats):
    return [formats.money(Decimal(value), currency) for currency, value in amounts.items()]


def rows_sum(page, selector):
    totals = {}
    for row in page.locator(f"{selector} tbody tr").all():
        currency = row.get_attribute("data-currency")
        totals[currency] = totals.get(currency, Decimal(0)) + \
            Decimal(row.get_attribute("data-amount"))
    return {currency: str(amount) for currency, amount in totals.items()}


@pytest.mark.parametrize("days_ago", [0, 30])
def test_the_overview_equals_the_json_and_each_drill_down_adds_up(page, web, demo, days_ago):
    as_of = (date.today() - timedelta(days=days_ago)).isoformat()
    client_id = demo["client_id"]
    expected = demo["api"].get(f"{web.url}/api/v1/clients/{client_id}/overview",
                               params={"as_of": as_of}, timeout=10).json()
    sign_in(page, web, demo["person"])
    base = f"{web.url}/clients/{client_id}"
    page.goto(f"{base}?as_of={as_of}")
    formats = i18n.Formats("en")
    assert page.input_value("#as_of") == as_of
    assert page.locator("[data-figure='projects.count']").inner_text() == \
        str(expected["projects"]["count"])
    assert page.locator("[data-figure='projects.total_hours']").inner_text() == \
        formats.number(expected["projects"]["total_hours"])
    for due in ("overdue", "due", "upcoming", "open"):
        assert page.locator(f"[data-figure='tasks.{due}'] strong").inner_text() == \
            str(expected["tasks"][due])
    for status, figure in expected["invoices"].items():
        row = page.locator(f"tr:has([data-figure='invoices.{status}'])")
        cells = row.locator("td")
        assert cells.nth(0).inner_text() == str(figure["count"])
        shown = cells.nth(1).inner_text()
        for text in figure_text(figure["amount"], formats):
            assert text in shown
    for item in expected["chart"]["invoices"]:
        for currency, amount in item["amount"].items():
            cell = page.locator(f"[data-chart='{currency}.{item['label']}']")
            assert cell.inner_text() == formats.money(Decimal(amount), currency)
    pies = page.locator("svg[role=img]")
    assert pies.count() == len({c for i in expected["chart"]["invoices"] for c in i["amount"]})
    assert pies.first.locator("title").text_content().startswith("Invoices in")
    if days_ago == 0:
        assert axe_violations(page) == []
        screenshot(page, "client-overview")
    # Each figure's list adds up to the figure.
    for status, figure in expected["invoices"].items():
        page.goto(f"{base}?as_of={as_of}")
        page.locator(f"[data-figure='invoices.{status}']").click()
        page.wait_for_selector("#tab-title")
        assert page.locator("table[data-list=invoices] tbody tr").count() == figure["count"]
        assert rows_sum(page, "table[data-list=invoices]") == figure["amount"], status
    for due in ("overdue", "due", "upcoming", "open"):
        page.goto(f"{base}?as_of={as_of}")
        page.locator(f"[data-figure='tasks.{due}']").click()
        page.wait_for_selector("#tasks")
        assert page.locator("table[data-list=tasks] tbody tr").count() == expected["tasks"][due]
    for name in ("total", "finalized"):
        page.goto(f"{base}?as_of={as_of}")
        page.locator(f"[data-figure='purchase_orders.{name}']").click()
        page.wait_for_selector("#orders")
        figure = expected["purchase_orders"][name]
        assert page.locator("table[data-list=orders] tbody tr").count() == figure["count"]
        assert rows_sum(page, "table[data-list=orders]") == figure["amount"]
    for name in ("open", "accepted"):
        page.goto(f"{base}?as_of={as_of}")
        page.locator(f"[data-figure='quotes.{name}']").click()
        page.wait_for_selector("#tab-title")
        figure = expected["quotes"][name]
        assert page.locator("table[data-list=quotes] tbody tr").count() == figure["count"]
        assert rows_sum(page, "table[data-list=quotes]") == figure["amount"]
    page.goto(f"{base}?as_of={as_of}")
    page.locator("[data-figure='projects.count']").click()
    page.wait_for_selector("#tab-title")
    assert page.locator("table[data-list=projects] tbody tr").count() == \
        expected["projects"]["count"]


def test_the_tabs_and_the_past(page, web, demo):
    sign_in(page, web, demo["person"])
    base = f"{web.url}/clients/{demo['client_id']}"
    page.goto(base)
    for name, shot in (("Projects", "client-projects"),
                       ("Purchase orders / Invoices", "client-documents"),
                       ("Offers and quotes", "client-offers"), ("History", "client-history"),
                       ("Contact data", "client-contact")):
        page.locator("nav.tabs").get_by_role("link", name=name).click()  # htmx swaps the tab
        page.wait_for_selector(f"nav.tabs a[aria-current=page]:text-is('{name}')")
        assert page.locator("#tab-title").inner_text() == name
        assert axe_violations(page) == []
        screenshot(page, shot)
    # An "as of" date before anything happened: every figure as it stood then.
    page.goto(f"{base}?as_of=2000-01-01")
    assert page.locator("[data-figure='tasks.overdue'] strong").inner_text() == "0"
    assert page.locator("text=Figures as of January 1, 2000").is_visible()


def test_upload_a_file_download_it_and_set_the_photo(page, web):
    person = web.user(role="member")
    client = web.api(person.workspace).post(f"{web.url}/api/v1/clients",
                                            json={"name": "Files Ltd"}, timeout=10).json()
    sign_in(page, web, person)
    page.goto(f"{web.url}/clients/{client['id']}/files")
    page.set_input_files("#file", files=[{"name": "contrato firmado.txt",
                                          "mimeType": "text/plain",
                                          "buffer": "Contrato de prestación".encode()}])
    page.get_by_role("button", name="Upload").click()
    page.wait_for_selector("text=Uploaded contrato firmado.txt.")
    link = page.get_by_role("link", name="contrato firmado.txt")
    with page.expect_download() as download:
        link.click()
    assert open(download.value.path(), "rb").read() == "Contrato de prestación".encode()
    page.set_input_files("#photo", files=[{"name": "logo.png", "mimeType": "image/png",
                                           "buffer": png()}])
    page.get_by_role("button", name="Set the photo").click()
    page.wait_for_selector("img.avatar")
    # The photo is fetched after the page: wait until it has loaded.
    page.wait_for_function("document.querySelector('img.avatar').naturalWidth == 2")
    assert axe_violations(page) == []
    screenshot(page, "client-files")


def test_text_fields_render_as_text(page, web):
    person = web.user(role="member")
    sign_in(page, web, person)
    page.goto(f"{web.url}/clients/new")
    for selector in ("#f-name", "#f-category", "#f-tags", "#f-address-street",
                     "#f-address-postal_code", "#f-address-city", "#f-address-region",
                     "#f-company-name", "#f-notes", "#f-gender"):
        if selector == "#f-gender":
            continue
        page.fill(selector, XSS)
    page.fill("#f-email", XSS)  # refused: shown again inside the field, as text
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_selector("#f-email-error")
    assert page.input_value("#f-email") == XSS
    page.fill("#f-email", "")
    page.fill("#f-tags", "one")
    page.fill("#f-address-postal_code", "08001")
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_url(re.compile(r".*/clients/[0-9a-f-]{36}(\?.*)?$"))
    assert page.get_by_role("heading", name=XSS).is_visible()
    assert page.title() != "pwned" and page.locator("img[src=x]").count() == 0
    for suffix in ("/contact", "/history"):
        page.goto(page.url.split("?")[0].replace("/contact", "") + suffix)
        assert page.locator("img[src=x]").count() == 0 and page.title() != "pwned"
    page.goto(f"{web.url}/clients")
    assert page.get_by_role("link", name=XSS).is_visible()
    assert page.locator("img[src=x]").count() == 0
    headers = requests.get(f"{web.url}/login", timeout=10).headers
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert "unsafe-inline" not in headers["Content-Security-Policy"]


def test_another_workspaces_client_answers_404(page, web):
    person = web.user(role="admin")
    other = web.api("someone-else").post(f"{web.url}/api/v1/clients",
                                          json={"name": "Not yours"}, timeout=10).json()
    sign_in(page, web, person)
    for suffix in ("", "/contact", "/projects", "/documents", "/offers", "/files", "/history",
                   "/photo"):
        answer = page.goto(f"{web.url}/clients/{other['id']}{suffix}")
        assert answer.status == 404, suffix
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert page.goto(f"{web.url}/api/v1/clients/{other['id']}").status == 404
    assert "Not yours" not in page.content()


@pytest.mark.parametrize("locale", ["es", "pt_PT", "pt_BR", "ca"])
def test_every_screen_speaks_the_language(browser, web, demo, locale):
    """No English string of the app is left on any screen of this issue."""
    english = {message.id for message in i18n.load_catalog(locale)
               if isinstance(message.id, str) and " " in message.id
               and message.string and message.string != message.id}
    context = browser.new_context(locale=locale.replace("_", "-"),
                                  viewport={"width": 1280, "height": 800})
    page = context.new_page()
    sign_in(page, web, demo["person"])
    base = f"/clients/{demo['client_id']}"
    screens = ["/clients", "/clients/new", base, f"{base}/contact", f"{base}/projects?due=open",
               f"{base}/documents?status=authorized", f"{base}/offers", f"{base}/files",
               f"{base}/history", "/account", "/import"]
    for path in screens:
        page.goto(f"{web.url}{path}")
        assert page.locator("html").get_attribute("lang") == locale.replace("_", "-")
        text = page.locator("body").inner_text()
        left = sorted(phrase for phrase in english if phrase in text)
        assert left == [], f"{path} in {locale} still shows {left}"
        if locale in ("es", "pt_BR"):
            name = path.strip("/").replace(demo["client_id"], "client").replace("/", "-") \
                .split("?")[0] or "home"
            screenshot(page, f"{locale}-{name}")
    context.close()
