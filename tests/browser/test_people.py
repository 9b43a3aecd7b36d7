"""People: signing in and out, throttling, roles, CSRF, disabled users, the session on /api/v1."""
import time

import requests

from gateway import people
from tests.browser.conftest import axe_violations, requests_session, screenshot, sign_in
from tests.helpers import wait_until


def test_sign_in_and_out(browser, web):
    person = web.user(role="member")
    page = browser.new_page()
    page.goto(f"{web.url}/clients")
    assert "/login" in page.url  # a page needs a signed-in person
    assert axe_violations(page) == []
    screenshot(page, "login")
    page.fill("#email", person.email)
    page.fill("#password", "not the password")
    page.click("form.stack button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "The email or the password is not right."
    page.fill("#password", person.password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{web.url}/clients")
    cookie, = [c for c in page.context.cookies() if c["name"] == "cf_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.click("details.user-menu summary")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{web.url}/login")
    page.goto(f"{web.url}/clients")
    assert "/login" in page.url
    page.close()


def test_five_failures_within_fifteen_minutes_answer_429(web):
    person = web.user()
    session = requests.Session()
    session.get(f"{web.url}/login", timeout=10)
    form = {"email": person.email, "password": "wrong password",
            "csrf_token": session.cookies.get("cf_login")}
    statuses = [session.post(f"{web.url}/login", data=form, timeout=10).status_code
                for _ in range(5)]
    assert statuses == [401] * 5
    answer = session.post(f"{web.url}/login", data={**form, "password": person.password},
                          timeout=10, allow_redirects=False)
    assert answer.status_code == 429
    assert 0 < int(answer.headers["Retry-After"]) <= 15 * 60
    # The count lives in the database: every replica sees it.
    with web.db.read() as conn:
        assert people.retry_after(conn, person.email, __import__("time").time()) > 0


def test_a_viewer_reads_but_cannot_write(browser, web):
    viewer = web.user(role="viewer")
    page = browser.new_page()
    sign_in(page, web, viewer)
    assert page.get_by_role("link", name="+ Add client").count() == 0
    page.goto(f"{web.url}/clients/new")
    assert page.get_by_role("heading", name="Not allowed").is_visible()
    session = requests_session(web, viewer)
    csrf = session.get(f"{web.url}/account", timeout=10).text.split('name="csrf_token" value="')[1] \
        .split('"')[0]
    answer = session.post(f"{web.url}/clients/new", data={"name": "Viewer's client",
                                                          "csrf_token": csrf}, timeout=10)
    assert answer.status_code == 403
    answer = session.post(f"{web.url}/api/v1/clients", json={"name": "Viewer's client"},
                          headers={"X-CSRF-Token": csrf}, timeout=10)
    assert answer.status_code == 403
    page.close()


def csrf_of(session, web):
    return session.get(f"{web.url}/account", timeout=10).text \
        .split('name="csrf_token" value="')[1].split('"')[0]


def test_posts_without_the_csrf_token_are_refused(web):
    person = web.user(role="admin")
    session = requests_session(web, person)
    answer = session.post(f"{web.url}/clients/new", data={"name": "No token"}, timeout=10)
    assert answer.status_code == 403
    answer = session.post(f"{web.url}/clients/new", data={"name": "No token",
                                                          "csrf_token": "forged"}, timeout=10)
    assert answer.status_code == 403
    answer = session.post(f"{web.url}/api/v1/clients", json={"name": "No token"}, timeout=10)
    assert answer.status_code == 403
    clients = session.get(f"{web.url}/api/v1/clients?q=token", timeout=10).json()
    assert clients["items"] == []


def test_the_session_works_on_the_api_and_events_name_the_person(web):
    person = web.user(role="member")
    session = requests_session(web, person)
    answer = session.post(f"{web.url}/api/v1/clients", json={"name": "Session client"},
                          headers={"X-CSRF-Token": csrf_of(session, web)}, timeout=10)
    assert answer.status_code == 201, answer.text
    history = session.get(f"{web.url}/api/v1/clients/{answer.json()['id']}/history",
                          timeout=10).json()
    assert history["items"][0]["actor"] == f"user:{person.email}"
    page = session.get(f"{web.url}/clients/{answer.json()['id']}/history", timeout=10).text
    assert person.email in page


def test_a_disabled_users_session_stops_working(web):
    person = web.user()
    session = requests_session(web, person)
    assert session.get(f"{web.url}/clients", timeout=10, allow_redirects=False).status_code == 200
    # Disabled from another process (the command line): each gateway process remembers
    # a session for at most a second.
    assert people.disable_user(web.db, person.email)
    disabled_at = time.monotonic()

    def refused():
        answer = session.get(f"{web.url}/clients", timeout=10, allow_redirects=False)
        return answer if answer.status_code != 200 else None

    answer = wait_until(refused, timeout=5, interval=0.1, message="the disabled session to end")
    assert time.monotonic() - disabled_at < people.REMEMBERED.seconds + 1
    assert answer.status_code == 303 and answer.headers["Location"].startswith("/login")
    assert session.get(f"{web.url}/api/v1/clients", timeout=10).status_code == 401


def test_changing_the_password_ends_the_sessions(browser, web):
    person = web.user()
    other = requests_session(web, person)
    page = browser.new_page()
    sign_in(page, web, person)
    page.goto(f"{web.url}/account")
    assert axe_violations(page) == []
    screenshot(page, "account")
    page.fill("#current_password", person.password)
    page.fill("#new_password", "a brand new password")
    page.fill("#confirm", "a brand new password")
    page.get_by_role("button", name="Change the password").click()
    page.wait_for_url(f"{web.url}/login?done=password")
    assert other.get(f"{web.url}/clients", timeout=10, allow_redirects=False).status_code == 303
    person.password = "a brand new password"
    sign_in(page, web, person)
    assert page.url == f"{web.url}/clients"
    page.close()


def test_the_language_switcher_and_the_workspace_default(browser, web):
    person = web.user()
    people.set_workspace_locale(web.db, person.workspace, "ca")
    context = browser.new_context(extra_http_headers={"Accept-Language": "de-DE"})
    page = context.new_page()
    sign_in(page, web, person)
    assert page.locator("html").get_attribute("lang") == "ca"  # the workspace's default
    assert page.get_by_role("heading", name="Clients").is_visible()
    page.select_option("#language-choice", "pt_PT")  # submits itself (app.js)
    page.wait_for_selector("html[lang=pt-PT]")
    assert page.get_by_role("link", name="+ Adicionar cliente").is_visible()
    context.close()
    # The choice is the person's: another browser shows it too.
    other = browser.new_context(extra_http_headers={"Accept-Language": "es"})
    page = other.new_page()
    sign_in(page, web, person)
    assert page.locator("html").get_attribute("lang") == "pt-PT"
    other.close()


def test_a_one_time_link_sets_the_password(browser, web):
    email = f"new-{__import__('secrets').token_hex(4)}@example.com"
    people.create_user(web.db, "linked", email, "viewer")  # no password yet
    token = people.create_password_link(web.db, email)
    page = browser.new_page()
    page.goto(f"{web.url}/set-password?token={token}")
    assert axe_violations(page) == []
    screenshot(page, "set-password")
    page.fill("#password", "my own password")
    page.fill("#confirm", "my own password")
    page.get_by_role("button", name="Save the password").click()
    page.wait_for_url(f"{web.url}/login?done=password")
    page.fill("#email", email)
    page.fill("#password", "my own password")
    page.click("form.stack button[type=submit]")
    page.wait_for_url(f"{web.url}/clients")
    page.goto(f"{web.url}/set-password?token={token}")  # spent
    assert "not valid any more" in page.locator("[role=alert]").inner_text()
    page.close()
