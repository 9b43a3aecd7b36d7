"""The Import screen and the export, as a person uses them, in Spanish and in Catalan:
a Windows-1252 semicolon CSV with two bad rows (preview, a column mapped by hand, run with
the progress bar, the errors file, revert), and an export imported back unchanged."""
import csv
import io
import re
import time

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from gateway.web import i18n
from tests.browser.conftest import axe_violations, screenshot, sign_in

HEADERS = {
    "es": ["Nombre del cliente", "NIF", "Correo electrónico", "Teléfono móvil", "País",
           "Categoría de cliente", "Dirección", "Observaciones internas", "Columna rara"],
    "ca": ["Nom del client", "NIF", "Correu electrònic", "Telèfon mòbil", "País",
           "Categoria de client", "Adreça", "Observacions internes", "Columna estranya"],
}
# Words of the screen in each language (from the catalogs, as the person reads them).
WORDS = ("Preview", "Import the file", "Preview again", "Revert this import",
         "Download the rows with errors (CSV)", "Import", "Export (CSV)", "Export (Excel)",
         "Unknown column", "Notes")


def words(locale):
    translations = i18n.translations(locale)
    return {word: translations.gettext(word) for word in WORDS}


def bad_rows_csv(locale):
    """Eight rows, two of them bad (a wrong NIF check letter, an email without domain),
    separated by semicolons and saved as Windows-1252 (Excel's "CSV" in Spain)."""
    rows = [HEADERS[locale],
            ["Construcciones Peña S.L.", "B58378431", "info@pena.es", "612 345 678", "ES",
             "Mayorista", "Calle Mayor 1", "Paga a 60 días", "x"],
            ["Mal NIF S.A.", "B58378432", "c@d.es", "", "ES", "", "", "", ""],
            ["Ferretería Núñez", "", "ferreteria@nunez.es", "", "ES", "", "", "", ""],
            ["Mal correo", "", "no-es-un-correo", "", "ES", "", "", "", ""],
            ["Fundació Catalana de Disseny", "G08915779", "", "", "ES", "Fundació",
             "Carrer de Mallorca 401", "", ""],
            ["Cafè Olé", "", "cafe@ole.cat", "", "ES", "", "", "", ""],
            ["Librería Ñandú", "", "libros@nandu.es", "", "ES", "", "", "", ""],
            ["Açaí Comércio Ltda.", "", "acai@comercio.com.br", "", "BR", "", "", "", ""]]
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("cp1252")


@pytest.fixture
def context(browser, locale):
    context = browser.new_context(locale=locale.replace("_", "-"), accept_downloads=True,
                                  viewport={"width": 1280, "height": 800})
    dialogs = []
    context.on("page", lambda page: page.on("dialog", lambda dialog: (
        dialogs.append(dialog.message), dialog.dismiss())))
    yield context
    context.close()
    assert dialogs == [], "a script ran from data on the page"


def choose_file(page, name, content, mime):
    page.set_input_files("#import-file", files=[{"name": name, "mimeType": mime,
                                                 "buffer": content}])


def drop_file(page, name, content, mime):
    """Drop a file on the drop zone, as a person dragging it from their desktop."""
    transfer = page.evaluate_handle(
        """([name, bytes, mime]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: mime}));
            return transfer;
        }""", [name, list(content), mime])
    page.dispatch_event("label.drop-zone", "drop", {"dataTransfer": transfer})
    assert page.evaluate("document.querySelector('#import-file').files[0].name") == name


def wait_done(page, after=None):
    """The job shown is done (a job other than ``after``); its id."""
    selector = ".import-job[data-status=done]" + (f":not([data-job='{after}'])" if after else "")
    page.wait_for_selector(selector, timeout=60_000)
    return page.locator(".import-job").get_attribute("data-job")


def count(page, name):
    return int(re.sub(r"\D", "", page.locator(f"dd[data-count={name}]").inner_text()))


@pytest.mark.parametrize("locale", ["es", "ca"])
def test_a_windows_1252_semicolon_csv_with_two_bad_rows(context, web, locale):
    word = words(locale)
    person = web.user(role="admin")
    api = web.api(person.workspace)
    page = context.new_page()
    sign_in(page, web, person)
    page.click("details.more-menu summary")
    page.get_by_role("link", name=word["Import"], exact=True).click()
    page.wait_for_url(f"{web.url}/import")
    assert axe_violations(page) == []
    screenshot(page, f"import-{locale}")

    page.evaluate("window.stillTheSamePage = true")  # no page load from here on
    choose_file(page, "clientes.csv", bad_rows_csv(locale), "application/vnd.ms-excel")
    page.get_by_role("button", name=word["Preview"], exact=True).click()
    preview = wait_done(page)
    assert page.url == f"{web.url}/import/{preview}"
    # How each column was read, the unknown ones, each row's verdict.
    headers = HEADERS[locale]
    assert page.get_by_label(headers[0], exact=True).input_value() == "name"
    assert page.get_by_label(headers[1], exact=True).input_value() == "tax_id"
    assert page.get_by_label(headers[-1], exact=True).input_value() == ""
    assert page.get_by_label(headers[-2], exact=True).input_value() == ""
    unknown = page.locator("#unknown-columns").inner_text()
    assert headers[-1] in unknown and headers[-2] in unknown
    assert page.locator("table.columns .badge.warn").count() == 2
    assert page.locator("table[data-list=rows] tbody tr").count() == 8
    errors = page.locator("table[data-list=rows] tr[data-outcome=error]")
    expect(errors).to_have_count(2)
    assert errors.nth(0).locator("td").first.inner_text() == "3"
    assert errors.nth(1).locator("td").first.inner_text() == "5"
    assert "NIF" in errors.nth(0).inner_text() and "not a valid" not in errors.nth(0).inner_text()
    assert count(page, "created") == 6 and count(page, "failed") == 2
    assert api.get(f"{web.url}/api/v1/clients", timeout=10).json()["items"] == []  # a preview
    assert axe_violations(page) == []
    screenshot(page, f"import-preview-{locale}")

    # The notes column was not recognised: the person maps it and previews again.
    page.get_by_label(headers[-2], exact=True).select_option("notes")
    page.get_by_role("button", name=word["Preview again"], exact=True).click()
    preview = wait_done(page, after=preview)
    expect(page.get_by_label(headers[-2], exact=True)).to_have_value("notes")
    assert headers[-2] not in page.locator("#unknown-columns").inner_text()
    assert page.locator("table.columns .badge.warn").count() == 1

    asked = []  # the progress bar asks when the job moves, not on a timer
    page.on("request", lambda request: asked.append(request.url)
            if "/progress" in request.url else None)
    held = []  # the first progress answer waits until the bar has been photographed
    page.route("**/progress?*", lambda route: held.append(route))
    page.get_by_role("button", name=word["Import the file"], exact=True).click()
    page.wait_for_selector(f".import-job:not([data-job='{preview}']) progress")
    deadline = time.monotonic() + 30
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    assert held and page.locator(".import-job").get_attribute("data-status") in (
        "queued", "running")
    screenshot(page, f"import-progress-{locale}")
    held[0].continue_()
    page.unroute("**/progress?*")  # (it lets any later request through as well)
    wait_done(page, after=preview)
    page.wait_for_selector("text=" + i18n.translations(locale).gettext(
        "The import has finished."))
    assert page.evaluate("window.stillTheSamePage") is True
    assert 1 <= len(asked) <= 3, asked  # one batch of rows: one move, then done
    assert page.locator("#job-progress-bar").get_attribute("value") == "100"
    assert "100" in page.locator("#job-progress-text").inner_text()
    assert count(page, "created") == 6 and count(page, "failed") == 2
    # The list of past imports shows it, and who ran it.
    history = page.locator("#import-history tbody tr").first
    assert "clientes.csv" in history.inner_text() and person.email in history.inner_text()
    assert axe_violations(page) == []
    screenshot(page, f"import-summary-{locale}")

    with page.expect_download() as download:
        page.get_by_role("link", name=word["Download the rows with errors (CSV)"]).click()
    report = open(download.value.path(), encoding="utf-8-sig").read()
    lines = list(csv.reader(io.StringIO(report)))
    assert lines[0][:len(headers)] == headers and lines[0][-1] == "error"
    assert [line[0] for line in lines[1:]] == ["Mal NIF S.A.", "Mal correo"]
    assert "tax_id" in lines[1][-1] and "email" in lines[2][-1]

    clients = api.get(f"{web.url}/api/v1/clients", params={"limit": 100},
                      timeout=10).json()["items"]
    assert sorted(client["name"] for client in clients) == sorted(
        ["Construcciones Peña S.L.", "Ferretería Núñez", "Fundació Catalana de Disseny",
         "Cafè Olé", "Librería Ñandú", "Açaí Comércio Ltda."])
    pena = next(client for client in clients if client["name"].startswith("Construcciones"))
    assert pena["notes"] == "Paga a 60 días"
    # A client's page right after the import shows it (the link carries the token).
    link = page.locator("table[data-list=rows] tr[data-outcome=created] a").first
    assert link.inner_text() == "Construcciones Peña S.L."
    link.click()
    page.wait_for_url(re.compile(r".*/clients/[0-9a-f-]{36}\?ct=contacts:\d+$"))
    assert page.get_by_role("heading", name="Construcciones Peña S.L.").is_visible()
    page.go_back()

    page.wait_for_selector(".import-job[data-status=done]")
    page.evaluate("window.stillTheSamePage = true")
    page.get_by_role("button", name=word["Revert this import"]).click()
    page.wait_for_selector(".import-job .alert.warn")
    assert page.evaluate("window.stillTheSamePage") is True
    assert page.get_by_role("button", name=word["Revert this import"]).count() == 0
    assert i18n.translations(locale).gettext("Reverted") in \
        page.locator("#import-history tbody tr").first.inner_text()
    assert api.get(f"{web.url}/api/v1/clients", timeout=10).json()["items"] == []
    assert len(api.get(f"{web.url}/api/v1/clients", params={"archived": "true"},
                       timeout=10).json()["items"]) == 6
    assert axe_violations(page) == []
    screenshot(page, f"import-reverted-{locale}")


EXPORTED = [
    {"name": "Talleres Pérez, S.A.", "kind": "company", "tax_id": "B58378431",
     "country": "ES", "email": "taller@perez.es", "phone": "+34612345678",
     "tags": ["vip", "norte"], "category": "=1+1",
     "address": {"street": "Carrer de Mallorca 401", "city": "Barcelona",
                 "postal_code": "08013", "country": "ES"},
     "notes": "línea 1\nlínea 2"},
    {"name": "Açaí Comércio Ltda.", "country": "BR", "language": "pt",
     "company": {"name": "Açaí", "website": "https://acai.example.com.br"}},
    {"name": "Maria Sousa", "kind": "person", "email": "maria@sousa.pt", "country": "PT",
     "gender": "female"},
]


@pytest.mark.parametrize("locale", ["ca", "es"])
def test_exporting_and_importing_the_export_changes_nothing(context, web, locale):
    word = words(locale)
    person = web.user(role="member")
    api = web.api(person.workspace)
    for client in EXPORTED:
        answer = api.post(f"{web.url}/api/v1/clients", json=client, timeout=10)
        assert answer.status_code == 201, answer.text
    before = {c["id"]: c for c in api.get(f"{web.url}/api/v1/clients",
                                          timeout=10).json()["items"]}
    page = context.new_page()
    sign_in(page, web, person)
    files = {}
    for label, suffix in (("Export (CSV)", "csv"), ("Export (Excel)", "xlsx")):
        if page.locator("details.more-menu[open]").count() == 0:
            page.click("details.more-menu summary")
        with page.expect_download() as download:
            page.get_by_role("link", name=word[label]).click()
        files[suffix] = open(download.value.path(), "rb").read()
    assert files["csv"].startswith(b"\xef\xbb\xbf") and b"Talleres P\xc3\xa9rez" in files["csv"]
    assert load_workbook(io.BytesIO(files["xlsx"])).active["A2"].value

    for suffix, mime in (("csv", "text/csv"),
                         ("xlsx", "application/vnd.openxmlformats-officedocument."
                                  "spreadsheetml.sheet")):
        page.goto(f"{web.url}/import")
        drop_file(page, f"clients.{suffix}", files[suffix], mime)
        page.check("input[name=mode][value=upsert]")
        page.get_by_role("button", name=word["Preview"], exact=True).click()
        wait_done(page)
        assert page.locator("table[data-list=rows] tbody tr").count() == len(EXPORTED)
        assert page.locator("table[data-list=rows] tr[data-outcome=unchanged]").count() == \
            len(EXPORTED)
        assert page.locator("table.columns .badge.warn").count() == 0
        assert "Talleres Pérez, S.A." in page.locator("table[data-list=rows]").inner_text()
        if suffix == "csv":
            assert axe_violations(page) == []
        page.get_by_role("button", name=word["Import the file"], exact=True).click()
        page.wait_for_selector(".import-job[data-status=done] .alert.success",
                               timeout=60_000)
        assert count(page, "unchanged") == len(EXPORTED)
        assert (count(page, "created"), count(page, "updated"), count(page, "failed")) == \
            (0, 0, 0)
    after = {c["id"]: c for c in api.get(f"{web.url}/api/v1/clients",
                                         timeout=10).json()["items"]}
    assert after == before


@pytest.mark.parametrize("locale", ["es"])
def test_what_is_not_a_spreadsheet_is_said_next_to_the_field(context, web, locale):
    person = web.user(role="member")
    page = context.new_page()
    sign_in(page, web, person)
    page.goto(f"{web.url}/import")
    choose_file(page, "foto.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    page.get_by_role("button", name=words("es")["Preview"], exact=True).click()
    error = page.locator("#import-file-error")
    expect(error).to_be_visible()
    assert "CSV" in error.inner_text() and "send a CSV" not in error.inner_text()
    assert page.locator("#import-file").get_attribute("aria-invalid") == "true"
    assert axe_violations(page) == []
    screenshot(page, "import-error-es")
    choose_file(page, "vacio.csv", b"", "text/csv")
    page.get_by_role("button", name=words("es")["Preview"], exact=True).click()
    expect(error).to_have_text(i18n.translations("es").gettext("The file is empty."))
