"""The Projects screens as people in Spain and Catalonia use them: the three ways to give a
project its client (each then on the client's overview and history with its ``via``), the
bulk assignment of a whole page by keyboard, hours and tasks, and bad input."""
import re
import time
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (axe_violations, requests_session, screenshot, sign_in,
                                    tab_to)

UUID = r"[0-9a-f-]{36}"


def context_in(browser, locale):
    context = browser.new_context(locale=locale.replace("_", "-"),
                                  viewport={"width": 1280, "height": 800})
    return context, context.new_page()


def post(api, web, path, body, status=201):
    answer = api.post(f"{web.url}/api/v1{path}", json=body, timeout=30)
    assert answer.status_code == status, answer.text
    return answer.json()


def choose_client(page, picker, typed, client_id):
    """Type in a picker's search and wait until its drop-down has chosen ``client_id``."""
    page.fill(f"#{picker}-q", typed)
    expect(page.locator(f"#{picker}-select")).to_have_value(client_id)


def overview_figure(page, web, client_id, figure, expected):
    """The client's overview shows ``expected`` for ``figure`` (at once: the writes waited)."""
    page.goto(f"{web.url}/clients/{client_id}")
    shown = page.locator(f"[data-figure='{figure}']")
    if figure.startswith("tasks."):
        shown = shown.locator("strong")
    assert shown.inner_text() == expected


def history_vias(page, web, client_id, count, deadline=15):
    """The ``via`` of each assignment on the client's History tab, once ``count`` are there
    (the history is kept by the contacts service from the projects' events: eventually)."""
    limit = time.monotonic() + deadline
    while True:
        page.goto(f"{web.url}/clients/{client_id}/history")
        vias = page.locator("p.assignment").evaluate_all(
            "nodes => nodes.map(n => n.getAttribute('data-via'))")
        if len(vias) >= count or time.monotonic() > limit:
            return vias
        page.wait_for_timeout(200)


def test_the_three_ways_to_assign_a_client_in_spanish(browser, web):
    person = web.user(role="member")
    api = web.api(person.workspace)
    alan = post(api, web, "/clients", {"name": "Alan Insurance", "country": "ES"})
    context, page = context_in(browser, "es")
    sign_in(page, web, person)

    # 1. While creating the project: step 1, Basic information, the client drop-down.
    page.goto(f"{web.url}/projects")
    page.get_by_role("link", name="+ Nuevo proyecto").click()
    page.wait_for_url(f"{web.url}/projects/new")
    assert page.get_by_text("Paso 1: Información básica").is_visible()
    page.evaluate("window.samePage = true")  # htmx answers within the page
    page.get_by_role("button", name="Crear proyecto").click()  # no name: told next to it
    expect(page.locator("#f-name-error")).to_be_visible()
    page.fill("#f-name", "Web corporativa")
    page.fill("#f-budget_hours", "120,5")
    choose_client(page, "project-client", "alan", alan["id"])
    assert axe_violations(page) == []
    screenshot(page, "es-project-new")
    page.get_by_role("button", name="Crear proyecto").click()
    page.wait_for_url(re.compile(rf".*/projects/{UUID}\?created=1$"))
    assert page.locator("[data-project-client]").inner_text() == "Alan Insurance"
    assert page.evaluate("window.samePage === true")
    created = page.url.split("/projects/")[1].split("?")[0]
    assert api.get(f"{web.url}/api/v1/projects/{created}",
                   timeout=10).json()["budget_hours"] == 120.5

    # 3. From the project's settings.
    mobile = post(api, web, "/projects", {"name": "App móvil", "code": "APP-1"})
    page.goto(f"{web.url}/projects/{mobile['id']}")
    page.locator("nav.tabs").get_by_role("link", name="Configuración").click()
    page.wait_for_url(f"{web.url}/projects/{mobile['id']}/settings")
    assert page.input_value("#project-client-select") == ""
    choose_client(page, "project-client", "ALAN", alan["id"])  # accent- and case-blind
    assert axe_violations(page) == []
    screenshot(page, "es-project-settings")
    page.get_by_role("button", name="Guardar", exact=True).click()
    page.wait_for_selector("text=Guardado.")
    assert page.locator("[data-project-client]").inner_text() == "Alan Insurance"

    # 2. In bulk, from the list's Actions menu.
    intranet = post(api, web, "/projects", {"name": "Intranet"})
    page.goto(f"{web.url}/projects")
    row = page.locator(f"tr[data-id='{intranet['id']}']")
    assert row.locator("td[data-client]").inner_text() == "Sin cliente"
    row.locator("input[name=project_ids]").check()
    page.get_by_text("Acciones").click()
    choose_client(page, "bulk-client", "Alan", alan["id"])
    assert axe_violations(page) == []
    screenshot(page, "es-projects-assign")
    page.get_by_role("button", name="Asignar el cliente a los proyectos marcados").click()
    result = page.locator("section.assign-result")
    expect(result.locator("[data-count=assigned]")).to_have_text("1 proyecto asignado")
    expect(row.locator("td[data-client]")).to_have_text("Alan Insurance")
    assert axe_violations(page) == []
    screenshot(page, "es-projects-assigned")

    # The overview counts the three projects at once; the history says how each came.
    overview_figure(page, web, alan["id"], "projects.count", "3")
    vias = history_vias(page, web, alan["id"], 3)
    assert sorted(vias) == ["bulk", "create", "settings"]
    history = page.locator("ol.timeline").inner_text()
    for words in ("Asignado al crear el proyecto", "Asignado en la configuración del proyecto",
                  "Asignado en bloque desde la lista de proyectos"):
        assert words in history
    screenshot(page, "es-client-history-assignments")

    # Settings remove the client again; the history says so too.
    page.goto(f"{web.url}/projects/{mobile['id']}/settings")
    page.select_option("#project-client-select", "")
    page.get_by_role("button", name="Guardar", exact=True).click()
    page.wait_for_selector("text=Guardado.")
    assert page.locator("[data-project-client]").inner_text() == "Sin cliente"
    overview_figure(page, web, alan["id"], "projects.count", "2")
    context.close()


def test_a_new_client_from_inside_the_new_project_form_in_catalan(browser, web):
    person = web.user(role="member")
    api = web.api(person.workspace)
    context, page = context_in(browser, "ca")
    sign_in(page, web, person)
    page.goto(f"{web.url}/projects/new")
    page.fill("#f-name", "Catàleg 2027")
    page.get_by_text("Afegeix un client nou").click()
    page.get_by_role("button", name="Afegeix i tria").click()  # no name: told next to it
    expect(page.locator("#project-client-new-error")).to_be_visible()
    page.fill("#project-client-new", "Fundació Nova")
    page.get_by_role("button", name="Afegeix i tria").click()
    expect(page.locator("#project-client [role=status]")).to_contain_text("Fundació Nova")
    assert page.input_value("#f-name") == "Catàleg 2027"  # the form was not left
    chosen = page.input_value("#project-client-select")
    assert re.fullmatch(UUID, chosen)
    assert axe_violations(page) == []
    page.get_by_role("button", name="Crea el projecte").click()
    page.wait_for_url(re.compile(rf".*/projects/{UUID}\?created=1$"))
    assert page.locator("[data-project-client]").inner_text() == "Fundació Nova"
    assert api.get(f"{web.url}/api/v1/clients/{chosen}", timeout=10).json()["name"] == \
        "Fundació Nova"
    overview_figure(page, web, chosen, "projects.count", "1")
    # From the client's Projects tab: its project, and a new one with the client chosen.
    page.goto(f"{web.url}/clients/{chosen}/projects")
    assert page.get_by_role("link", name="Catàleg 2027").is_visible()
    page.get_by_role("link", name="+ Projecte nou").click()
    page.wait_for_url(f"{web.url}/projects/new?client_id={chosen}")
    assert page.input_value("#project-client-select") == chosen
    context.close()


def test_a_bulk_assignment_of_a_whole_page_by_keyboard_in_catalan(browser, web):
    person = web.user(role="member")
    api = web.api(person.workspace)
    target = post(api, web, "/clients", {"name": "Assegurances del Vallès"})
    projects = [post(api, web, "/projects", {"name": f"Lot {index:02d}"})
                for index in range(50)]
    archived = projects[7]
    changed = api.patch(f"{web.url}/api/v1/projects/{archived['id']}",
                        json={"status": "archived"}, timeout=10)
    assert changed.status_code == 200, changed.text
    context, page = context_in(browser, "ca")
    sign_in(page, web, person)
    page.goto(f"{web.url}/projects")
    assert page.locator("input[name=project_ids]").count() == 50
    assert axe_violations(page) == []
    screenshot(page, "ca-projects")
    # Keyboard only: check the whole page, open Actions, search, choose, assign.
    tab_to(page, "[data-check-all]")
    page.keyboard.press("Space")
    expect(page.locator("input[name=project_ids]:checked")).to_have_count(50)
    tab_to(page, "details.actions-menu > summary")
    page.keyboard.press("Enter")
    tab_to(page, "#bulk-client-q")
    page.keyboard.type("valles")
    expect(page.locator("#bulk-client-select")).to_have_value(target["id"])
    tab_to(page, "#assign-button")
    page.keyboard.press("Enter")
    result = page.locator("section.assign-result")
    expect(result.locator("[data-count=assigned]")).to_have_text("49 projectes assignats")
    assert result.locator("[data-count=failed]").inner_text() == "1 ha fallat"
    failed = result.locator("tr[data-outcome=failed]")
    assert failed.count() == 1
    assert failed.get_attribute("data-id") == archived["id"]
    assert "El projecte està arxivat" in failed.inner_text()
    assert result.locator("tr[data-outcome=assigned]").count() == 49
    assert page.evaluate("document.activeElement.classList.contains('assign-result')")
    assert axe_violations(page) == []
    screenshot(page, "ca-projects-assigned")
    overview_figure(page, web, target["id"], "projects.count", "49")

    # The same page again to a client archived meanwhile: every project fails for it.
    gone = post(api, web, "/clients", {"name": "Empresa Tancada"})
    page.goto(f"{web.url}/projects")
    page.locator("[data-check-all]").check()
    page.locator("details.actions-menu > summary").click()
    choose_client(page, "bulk-client", "tancada", gone["id"])
    assert api.post(f"{web.url}/api/v1/clients/{gone['id']}/archive",
                    timeout=10).status_code == 200
    page.locator("#assign-button").click()
    expect(result.locator("[data-count=failed]")).to_have_text("50 han fallat")
    rows = result.locator("tr[data-outcome=failed]")
    assert rows.count() == 50
    assert "arxivat" in rows.first.inner_text()
    assert result.locator("tr[data-outcome=assigned]").count() == 0
    assert api.get(f"{web.url}/api/v1/projects", params={"client_id": gone["id"]},
                   timeout=10).json()["items"] == []
    context.close()


def test_hours_and_tasks_change_the_overview_in_spanish(browser, web):
    person = web.user(role="member")
    api = web.api(person.workspace)
    client = post(api, web, "/clients", {"name": "Muebles Ñandú S.L."})
    project = post(api, web, "/projects", {"name": "Tienda en línea", "client_id": client["id"]})
    context, page = context_in(browser, "es")
    sign_in(page, web, person)
    page.goto(f"{web.url}/projects/{project['id']}")
    # Bad hours: a message next to the field, what was typed kept.
    page.fill("#f-hours", "25")
    page.get_by_role("button", name="Registrar horas").click()
    expect(page.locator("#f-hours-error")).to_be_visible()
    assert page.input_value("#f-hours") == "25"
    assert axe_violations(page) == []
    page.fill("#f-hours", "7,5")  # a Spanish decimal comma
    page.fill("#f-description", "Maquetación")
    page.get_by_role("button", name="Registrar horas").click()
    expect(page.locator("[data-figure=total_hours]")).to_have_text("7,5")
    assert page.locator("table[data-list=time-entries] tbody tr").count() == 1
    # A task due yesterday: overdue on the overview until it is completed.
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    page.fill("#f-title", "Enviar presupuesto")
    page.fill("#f-due_date", yesterday)
    page.get_by_role("button", name="Añadir tarea").click()
    task = page.locator("table[data-list=project-tasks] tbody tr").first
    expect(task).to_have_attribute("data-status", "open")
    assert "Vencida" in task.inner_text()
    assert axe_violations(page) == []
    screenshot(page, "es-project")
    overview_figure(page, web, client["id"], "projects.total_hours", "7,5")
    overview_figure(page, web, client["id"], "tasks.overdue", "1")
    page.goto(f"{web.url}/projects/{project['id']}")
    page.get_by_role("button", name="Completar: Enviar presupuesto").click()
    expect(task).to_have_attribute("data-status", "done")
    overview_figure(page, web, client["id"], "tasks.overdue", "0")
    page.goto(f"{web.url}/projects/{project['id']}")
    page.get_by_role("button", name="Reabrir: Enviar presupuesto").click()
    expect(task).to_have_attribute("data-status", "open")
    overview_figure(page, web, client["id"], "tasks.overdue", "1")
    context.close()


@pytest.mark.parametrize("locale", ["es", "ca"])
def test_bad_input_answers_a_message_never_a_500(web, locale):
    person = web.user(role="member")
    api = web.api(person.workspace)
    mine = post(api, web, "/projects", {"name": "Propio"})
    client = post(api, web, "/clients", {"name": "Cliente"})
    theirs = post(web.api("other-" + uuid.uuid4().hex[:6]), web, "/projects", {"name": "Ajeno"})
    session = requests_session(web, person)
    session.headers["Accept-Language"] = locale
    csrf = re.search(r'name="csrf_token" value="([^"]+)"',
                     session.get(f"{web.url}/projects", timeout=10).text).group(1)
    for path in (f"/projects/{uuid.uuid4()}", f"/projects/{theirs['id']}",
                 f"/projects/{theirs['id']}/settings", "/projects/not-an-id"):
        answer = session.get(f"{web.url}{path}", timeout=10)
        assert answer.status_code == 404, path
    for query in ({"client": "nope"}, {"cursor": "garbage"}, {"status": "lost"},
                  {"client": "-" * 36}):
        answer = session.get(f"{web.url}/projects", params=query, timeout=10)
        assert answer.status_code == 200, query  # the list, with the filter's message
        assert "Traceback" not in answer.text
    writes = [
        (f"/projects/{theirs['id']}/time-entries", {"date": "2026-01-05", "hours": "2"}, 404),
        (f"/projects/{uuid.uuid4()}/tasks", {"title": "x"}, 404),
        (f"/projects/{mine['id']}/time-entries", {"date": "2026-01-05", "hours": "abc"}, 422),
        (f"/projects/{mine['id']}/time-entries", {"date": "ayer", "hours": "2"}, 422),
        (f"/projects/{mine['id']}/time-entries", {"date": "2026-01-05", "hours": "0"}, 422),
        (f"/projects/{mine['id']}/tasks", {"title": ""}, 422),
        (f"/projects/{mine['id']}/tasks/{uuid.uuid4()}", {"status": "done"}, 404),
        (f"/projects/{mine['id']}/tasks/{uuid.uuid4()}", {"status": "lost"}, 400),
        (f"/projects/{mine['id']}/settings", {"name": "x", "version": "nope"}, 400),
        (f"/projects/{mine['id']}/settings",
         {"name": "Propio", "end_date": "2020-01-01", "start_date": "2021-01-01",
          "version": str(mine["version"]), "status": "active"}, 422),
        ("/projects/new", {"name": "", "client_id": str(uuid.uuid4())}, 422),
        ("/projects/assign-client", {"client_id": client["id"]}, 422),
    ]
    for path, form, status in writes:
        answer = session.post(f"{web.url}{path}", data={**form, "csrf_token": csrf},
                              timeout=30)
        assert answer.status_code == status, (path, form, answer.status_code)
        assert "<html" in answer.text and "Traceback" not in answer.text
    answer = session.post(f"{web.url}/projects/{mine['id']}/time-entries",
                          data={"date": "2026-01-05", "hours": "abc", "csrf_token": csrf},
                          timeout=10)
    assert 'id="f-hours-error"' in answer.text
    # Another workspace's project in a bulk assignment fails for that project alone.
    answer = session.post(f"{web.url}/projects/assign-client",
                          data={"client_id": client["id"], "csrf_token": csrf,
                                "project_ids": [mine["id"], theirs["id"]]}, timeout=30)
    assert answer.status_code == 200
    assert f'data-id="{mine["id"]}" data-outcome="assigned"' in answer.text
    assert f'data-id="{theirs["id"]}" data-outcome="failed"' in answer.text
    assert "Ajeno" not in answer.text
    assert session.get(f"{web.url}/clients/picker", params={"picker": "<x>"},
                       timeout=10).status_code == 400
    # Without the CSRF token nothing is written.
    refused = session.post(f"{web.url}/projects/{mine['id']}/tasks", data={"title": "x"},
                           timeout=10)
    assert refused.status_code == 403


@pytest.mark.parametrize("locale", ["es", "pt_PT", "pt_BR", "ca"])
def test_every_projects_screen_speaks_the_language(browser, web, locale):
    """No English string of the app is left on the Projects screens; hours and dates in
    the locale's format."""
    from gateway.web import i18n

    english = {message.id for message in i18n.load_catalog(locale)
               if isinstance(message.id, str) and " " in message.id
               and message.string and message.string != message.id}
    person = web.user(role="member")
    api = web.api(person.workspace)
    client = post(api, web, "/clients", {"name": "Cliente Uno"})
    project = post(api, web, "/projects", {"name": "Proyecto", "client_id": client["id"],
                                           "start_date": "2026-11-22",
                                           "budget_hours": "1234.5"})
    post(api, web, f"/projects/{project['id']}/time-entries",
         {"date": "2026-11-23", "hours": "7.5"})
    post(api, web, f"/projects/{project['id']}/tasks", {"title": "Tarea",
                                                        "due_date": "2026-11-24"})
    formats = i18n.Formats(locale)
    context, page = context_in(browser, locale)
    sign_in(page, web, person)
    for path in ("/projects", "/projects/new", f"/projects/{project['id']}",
                 f"/projects/{project['id']}/settings", f"/clients/{client['id']}/history"):
        page.goto(f"{web.url}{path}")
        if path == "/projects":
            page.locator("details.actions-menu > summary").click()
        text = page.locator("body").inner_text()
        left = sorted(phrase for phrase in english if phrase in text)
        assert left == [], f"{path} in {locale} still shows {left}"
        if path == f"/projects/{project['id']}":
            assert page.locator("[data-figure=total_hours]").inner_text() == \
                formats.number("7.5")
            assert formats.number("1234.5") in text  # the budget
            assert formats.date("2026-11-23") in text
    page.goto(f"{web.url}/projects")
    assert formats.date("2026-11-22") in page.locator("table.projects").inner_text()
    assert formats.number("7.5") in page.locator("table.projects").inner_text()
    context.close()
