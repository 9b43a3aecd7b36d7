"""The Import screen's HTTP side (gateway/web/imports.py): bad files answered next to the
field (never a 500), htmx answers, the progress that follows the job, running a preview,
revert by role, another workspace's jobs, and the contacts RPCs it reads (import_again,
list_imports)."""
import base64
import csv
import html
import io
import re
import secrets
import time

import pytest
import requests

from gateway import people
from gateway.web.imports import chosen_mapping
from tests.integration.conftest import Stack, running, sqlite_urls

PASSWORD = "correct horse battery staple"
LIMIT = 256 * 1024
HTMX = {"HX-Request": "true", "HX-Target": "import-area"}


class SmallImportsStack(Stack):
    """Files of at most 256 KiB, batches of 5 rows."""

    def config(self, service):
        return {**super().config(service), "IMPORT_MAX_BYTES": LIMIT, "IMPORT_BATCH_SIZE": 5}


@pytest.fixture(scope="module")
def stack(vhosts, tmp_path_factory):
    with running(SmallImportsStack(vhosts.create(),
                                   sqlite_urls(tmp_path_factory.mktemp("web-imports")))) as s:
        yield s


class Browser:
    """A signed-in person's requests, as the page's forms send them."""

    def __init__(self, stack, workspace, role):
        self.url = stack.url
        self.workspace = workspace
        self.email = f"{role}-{secrets.token_hex(4)}@example.com"
        people.create_user(stack.database("gateway"), workspace, self.email, role, PASSWORD)
        self.http = requests.Session()
        self.http.get(f"{self.url}/login", timeout=10)
        answer = self.http.post(f"{self.url}/login", allow_redirects=False, timeout=10, data={
            "email": self.email, "password": PASSWORD,
            "csrf_token": self.http.cookies.get("cf_login")})
        assert answer.status_code == 303, answer.text
        page = self.http.get(f"{self.url}/import", timeout=10)
        self.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)

    def get(self, path, **kwargs):
        return self.http.get(f"{self.url}{path}", timeout=30, **kwargs)

    def post(self, path, data=None, csrf=True, **kwargs):
        data = {**(data or {}), **({"csrf_token": self.csrf} if csrf else {})}
        return self.http.post(f"{self.url}{path}", data=data, timeout=30,
                              allow_redirects=False, **kwargs)

    def upload(self, content, name="clientes.csv", mime="text/csv", headers=None, **fields):
        return self.post("/import", {"mode": "create", "blank_cells": "keep", **fields},
                         files={"file": (name, content, mime)}, headers=headers)

    def job_id(self, answer):
        if answer.status_code == 303:
            return answer.headers["Location"].rsplit("/", 1)[1]
        return answer.headers["HX-Push-Url"].rsplit("/", 1)[1]

    def finished(self, job_id):
        """The job's area once the job is done (following the progress as htmx does)."""
        seen = -1
        for _ in range(200):
            answer = self.get(f"/import/{job_id}/progress", params={"seen": seen}, headers=HTMX)
            assert answer.status_code == 200
            status = re.search(r'data-status="(\w+)"', answer.text).group(1)
            if status in ("done", "failed"):
                return answer.text
            seen = int(re.search(r"seen=(-?\d+)", answer.text).group(1))
        raise AssertionError("the job never finished")


def csv_bytes(rows, delimiter=";", encoding="cp1252"):
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def field_error(text, name):
    found = re.search(rf'<p class="error" id="import-{name}-error" role="alert">(.*?)</p>',
                      text, re.S)
    return html.unescape(found.group(1)).strip() if found else None


def workspace():
    return f"webimp-{secrets.token_hex(3)}"


ROWS = [["Nombre", "NIF", "Correo electrónico", "País", "Extra"],
        ["Peña S.L.", "B58378431", "pena@example.es", "ES", "x"],
        ["Mal NIF", "B58378432", "", "ES", ""],
        ["Núñez", "", "nunez@example.es", "ES", ""]]


def test_bad_files_are_answered_next_to_the_field_never_a_500(stack):
    person = Browser(stack, workspace(), "member")
    person.http.headers["Accept-Language"] = "es"
    cases = [
        (dict(content=b"\x89PNG\r\n\x1a\n" + bytes(40), name="logo.png", mime="image/png"),
         415, "no es una hoja de cálculo"),
        (dict(content=b"", name="vacio.csv"), 422, "El archivo está vacío."),
        (dict(content=b"  \r\n", name="blancos.csv"), 422, "El archivo está vacío."),
        (dict(content=b"a" * (LIMIT + 1), name="grande.csv"), 413, "como máximo"),
        (dict(content=b"x" * (LIMIT + 100 * 1024), name="enorme.csv"), 413, "como máximo"),
        (dict(content="Ciudad;País\r\nMadrid;ES\r\n".encode(), name="sin-nombre.csv"), 422,
         "nombre"),
        (dict(content="%PDF-1.4 fake".encode(), name="factura.csv"), 415, "factura.csv"),
        (dict(content=b"PK\x03\x04broken", name="roto.xlsx",
              mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), 415,
         ""),
    ]
    for fields, status, words in cases:
        answer = person.upload(**fields)
        assert answer.status_code == status, (fields["name"], answer.status_code, answer.text)
        message = field_error(answer.text, "file")
        assert message and words in message, (fields["name"], message)
        assert 'aria-invalid="true"' in answer.text
    answer = person.post("/import", {"mode": "create"})
    assert answer.status_code == 422
    assert field_error(answer.text, "file") == "Elija una hoja de cálculo (CSV, .xlsx, .xls, .ods) o un archivo vCard (.vcf)."
    answer = person.upload(csv_bytes(ROWS), mode="sometimes", blank_cells="never")
    assert answer.status_code == 422
    assert field_error(answer.text, "mode") and field_error(answer.text, "blank_cells")
    # htmx swaps only successful answers: the same message, as a 200, for #import-area.
    answer = person.upload(b"", name="vacio.csv", headers=HTMX)
    assert answer.status_code == 200 and "<html" not in answer.text
    assert field_error(answer.text, "file") == "El archivo está vacío."
    # Without the form's token nothing is started.
    answer = person.post("/import", files={"file": ("a.csv", csv_bytes(ROWS))}, csrf=False)
    assert answer.status_code == 403


def test_preview_remap_run_progress_errors_and_revert(stack):
    admin = Browser(stack, workspace(), "admin")
    answer = admin.upload(csv_bytes(ROWS), headers=HTMX)
    assert answer.status_code == 200
    preview = admin.job_id(answer)
    text = admin.finished(preview)
    assert 'data-count="created">2<' in text and 'data-count="failed">1<' in text
    assert "Unknown column" in text and "Extra" in text
    page = admin.get(f"/import/{preview}").text
    assert page.count('<tr data-outcome="') == 3 and "Past imports" in page
    # Map "Extra" to the notes and run the preview for real.
    form = {"column": ["Nombre", "NIF", "Correo electrónico", "País", "Extra"],
            "field": ["name", "tax_id", "email", "country", "notes"], "mode": "create",
            "blank_cells": "keep", "action": "run"}
    answer = admin.post(f"/import/{preview}/again", form)
    assert answer.status_code == 303
    job = admin.job_id(answer)
    assert job != preview
    text = admin.finished(job)
    assert "The import has finished." in text and 'data-count="created">2<' in text
    assert 'hx-swap-oob="true"' in text and admin.email in text  # the list of past imports
    api = stack.session(admin.workspace)
    clients = api.get(f"{stack.url}/api/v1/clients", timeout=10).json()["items"]
    assert {c["name"]: c["notes"] for c in clients} == {"Peña S.L.": "x", "Núñez": None}
    report = admin.get(f"/import/{job}/errors.csv")
    assert report.status_code == 200 and report.headers["Content-Type"].startswith("text/csv")
    assert "Mal NIF" in report.text and "tax_id" in report.text
    # The client links carry the job's consistency token.
    assert re.search(r'href="/clients/[0-9a-f-]{36}\?ct=contacts:\d+"', text)
    # A member cannot revert; an admin can, once.
    member = Browser(stack, admin.workspace, "member")
    assert member.post(f"/import/{job}/revert").status_code == 403
    answer = admin.post(f"/import/{job}/revert", headers=HTMX)
    assert answer.status_code == 200 and "was reverted on" in answer.text
    assert api.get(f"{stack.url}/api/v1/clients", timeout=10).json()["items"] == []
    answer = admin.post(f"/import/{job}/revert", headers=HTMX)
    assert answer.status_code == 200 and 'class="alert error"' in answer.text


def test_a_mapping_without_a_name_is_said_next_to_the_columns(stack):
    person = Browser(stack, workspace(), "member")
    preview = person.job_id(person.upload(csv_bytes(ROWS)))
    person.finished(preview)
    answer = person.post(f"/import/{preview}/again", {
        "column": ["Nombre", "NIF"], "field": ["", "tax_id"], "mode": "create",
        "blank_cells": "keep", "action": "preview"}, headers=HTMX)
    assert answer.status_code == 200
    assert re.search(r'id="import-mapping-error" role="alert">[^<]*name', answer.text)


def test_the_progress_answers_when_the_job_moves_not_before(stack):
    person = Browser(stack, workspace(), "member")
    rows = [["Nombre", "Correo electrónico"]] + [
        [f"Cliente {n}", f"c{n}@example.es"] for n in range(400)]
    job = person.job_id(person.upload(csv_bytes(rows)))
    seen, answers, started = -1, 0, time.monotonic()
    while True:
        asked = time.monotonic()
        answer = person.get(f"/import/{job}/progress", params={"seen": seen}, headers=HTMX)
        answers += 1
        status = re.search(r'data-status="(\w+)"', answer.text).group(1)
        if status == "done":
            break
        now = int(re.search(r"seen=(-?\d+)", answer.text).group(1))
        # Unless the job finished, an answer comes once it moved (after a short pause),
        # or after the longest wait without news.
        assert now != seen or time.monotonic() - asked >= 4.5
        assert time.monotonic() - asked >= 0.35
        seen = now
        assert time.monotonic() - started < 120
    assert "400 of 400 rows (100%)" in answer.text
    # Every row's verdict, 100 at a time.
    page = person.get(f"/import/{job}").text
    assert page.count('<tr data-outcome="created">') == 100
    next_rows = html.unescape(re.search(r'hx-get="([^"]+after=[^"]+)"', page).group(1))
    rows = person.get(next_rows, headers={"HX-Request": "true", "HX-Target": "import-rows"})
    assert rows.text.lstrip().startswith('<div id="import-rows">') and "<html" not in rows.text
    numbers = [int(n) for n in re.findall(r'<td class="num">(\d+)</td>', rows.text)]
    assert numbers == list(range(102, 202))


def test_another_workspaces_job_answers_404(stack):
    owner = Browser(stack, workspace(), "admin")
    job = owner.job_id(owner.upload(csv_bytes(ROWS)))
    owner.finished(job)
    stranger = Browser(stack, workspace(), "admin")
    for path in (f"/import/{job}", f"/import/{job}/progress", f"/import/{job}/errors.csv"):
        assert stranger.get(path).status_code == 404, path
    for path in (f"/import/{job}/again", f"/import/{job}/revert"):
        assert stranger.post(path, {"action": "run"}).status_code == 404, path
    assert job not in stranger.get("/import").text


def test_a_viewer_sees_the_past_imports_but_no_upload_form(stack):
    member = Browser(stack, workspace(), "member")
    member.finished(member.job_id(member.upload(csv_bytes(ROWS))))
    viewer = Browser(stack, member.workspace, "viewer")
    page = viewer.get("/import").text
    assert 'id="import-form"' not in page and "Only members" in page
    assert viewer.upload(csv_bytes(ROWS)).status_code == 403


def test_import_again_and_list_imports_over_rpc(stack):
    ctx = {"workspace": workspace(), "actor": "user:a@example.com",
           "command_id": f"test:{secrets.token_hex(4)}"}
    data = base64.b64encode(csv_bytes(ROWS)).decode()
    first = stack.rpc.contacts.start_import(ctx, "a.csv", data, "create", True)
    assert [c["field"] for c in first["columns"]] == ["name", "tax_id", "email", "country",
                                                      None]
    again_ctx = {**ctx, "command_id": f"test:{secrets.token_hex(4)}"}
    again = stack.rpc.contacts.import_again(again_ctx, first["id"], "upsert", False,
                                            {"Extra": "notes"}, "keep")
    # Sent twice (a redelivery), the command starts one job.
    assert stack.rpc.contacts.import_again(again_ctx, first["id"], "upsert", False,
                                           {"Extra": "notes"}, "keep")["id"] == again["id"]
    assert again["mode"] == "upsert" and not again["dry_run"]
    assert again["mapping"] == {"Extra": "notes"}
    assert [c["field"] for c in again["columns"]] == ["name", "tax_id", "email", "country",
                                                      "notes"]
    listed = stack.rpc.contacts.list_imports(ctx, 25)
    assert [item["id"] for item in listed["items"]] == [again["id"]]  # previews left out
    assert listed["items"][0]["actor"] == "user:a@example.com"
    both = stack.rpc.contacts.list_imports(ctx, 1, None, True)
    assert len(both["items"]) == 1 and both["next_cursor"]
    rest = stack.rpc.contacts.list_imports(ctx, 1, both["next_cursor"], True)
    assert {both["items"][0]["id"], rest["items"][0]["id"]} == {first["id"], again["id"]}
    other = {**ctx, "workspace": "someone-else"}
    assert stack.rpc.contacts.list_imports(other)["items"] == []


def test_the_form_mapping_is_sent_only_when_changed():
    job = {"columns": [{"header": "Nombre", "field": "name"},
                       {"header": "Fecha de alta", "field": None},
                       {"header": "Extra", "field": None}],
           "ignored_columns": ["Fecha de alta"], "mapping": None}

    class Form(dict):
        def getlist(self, name):
            return self[name]

    unchanged = Form(column=["Nombre", "Fecha de alta", "Extra"], field=["name", "", ""])
    assert chosen_mapping(unchanged, job) is None
    changed = Form(column=["Nombre", "Fecha de alta", "Extra"], field=["name", "", "notes"])
    assert chosen_mapping(changed, job) == {"Nombre": "name", "Extra": "notes"}
    forged = Form(column=["Nombre", "Other"], field=["name", "email"])
    assert chosen_mapping(forged, job) is None
