"""Browser tests: Playwright for Python driving Debian's Chromium against the integration
tests' stack, which runs in a process of its own (``stack_process.py``): this process is
not monkey-patched by eventlet, so it must not import ``tests.conftest``. ``make test`` runs
them apart: ``pytest tests/browser --confcutdir=tests/browser``.

One stack per module (it takes seconds to start); each test signs in its own person.
Screenshots of every screen go to ``build/screenshots/`` at 1280x800 and 390x844.
"""
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from gateway import auth, people
from services.common.db import get_database

CHROMIUM = os.environ.get("CLIENTFOLIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
PASSWORD = "correct horse battery staple"
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "mobile": {"width": 390, "height": 844}}


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: "
                    "run 'apt-get install -y chromium' (make test does it as root)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def web():
    """The whole stack (SQLite) for this module's tests, with helpers for people."""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, "-m", "tests.browser.stack_process"],
                               cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    line = process.stdout.readline()
    if not line:
        process.wait(timeout=30)
        pytest.fail(f"the stack did not start (exit code {process.returncode})")
    yield Web(json.loads(line))
    process.stdin.close()
    process.wait(timeout=60)


class Web:
    def __init__(self, started):
        self.url = started["url"]
        self.db = get_database(started["databases"]["gateway"])

    def user(self, workspace=None, role="member", password=PASSWORD):
        """A new person with a membership of ``workspace`` (a new one when None)."""
        workspace = workspace or f"ws-{secrets.token_hex(4)}"
        email = f"{role}-{secrets.token_hex(4)}@example.com"
        people.create_user(self.db, workspace, email, role, password)
        return Person(email, password, workspace, role)

    def api(self, workspace, role="admin"):
        """A requests session with a bearer token of ``workspace``."""
        session = requests.Session()
        session.headers["Authorization"] = \
            f"Bearer {auth.create_token(self.db, workspace, role)[1]}"
        return session


class Person:
    def __init__(self, email, password, workspace, role):
        self.email, self.password, self.workspace, self.role = email, password, workspace, role


def sign_in(page, web, person, locale=None):
    if locale:
        page.context.set_extra_http_headers({"Accept-Language": locale.replace("_", "-")})
    page.goto(f"{web.url}/login")
    page.fill("#email", person.email)
    page.fill("#password", person.password)
    page.click("form.stack button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def screenshot(page, name):
    """The page at both sizes, into build/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    original = page.viewport_size
    for label, size in VIEWPORTS.items():
        page.set_viewport_size(size)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(original)


def axe_violations(page):
    """Serious and critical axe-core violations of the page."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [violation for violation in results.response["violations"]
            if violation.get("impact") in ("serious", "critical")]


def requests_session(web, person):
    """A requests session signed in as ``person`` (cookie) and its CSRF token."""
    session = requests.Session()
    answer = session.get(f"{web.url}/login", timeout=10)
    token = session.cookies.get("cf_login")
    answer = session.post(f"{web.url}/login", data={"email": person.email,
                                                      "password": person.password,
                                                      "csrf_token": token},
                          allow_redirects=False, timeout=10)
    assert answer.status_code == 303, answer.text
    return session


def tab_to(page, selector, limit=200):
    """Press Tab until the element matching ``selector`` has the focus (keyboard only)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)",
                         selector):
            return
    raise AssertionError(f"Tab never reached {selector}")
