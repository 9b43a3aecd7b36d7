"""HTML responses: Jinja2 (autoescaped) with the request's language, and the security headers
every page and asset carries."""
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from werkzeug.wrappers import Response

from . import forms, i18n, labels

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
HTMX_VERSION = "2.0.11"

# No inline script or style anywhere: scripts and styles come from /static only.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; font-src 'self'; connect-src 'self'; "
                           "object-src 'none'; base-uri 'none'; form-action 'self'; "
                           "frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def secure(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _environment(locale):
    env = Environment(loader=FileSystemLoader(TEMPLATES_DIR),
                      autoescape=select_autoescape(["html"], default_for_string=True),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True,
                      auto_reload=False)  # templates change with a release, not at run time
    translations = i18n.translations(locale)
    env.install_gettext_translations(translations, newstyle=True)
    env.globals.update(labels.helpers(translations, locale))
    env.globals["known_fields"] = (*forms.FIELDS, "photo")
    formats = i18n.Formats(locale)
    env.filters.update(money=formats.money, number=formats.number, date=formats.date,
                       day=formats.day)
    env.globals.update(locale=locale, html_lang=locale.replace("_", "-"),
                       languages=i18n.LANGUAGES, htmx_version=HTMX_VERSION)
    return env


_environments = {}


def environment(locale):
    """One environment per language (compiled templates kept; safe for concurrent use)."""
    env = _environments.get(locale)
    if env is None:
        env = _environments[locale] = _environment(locale)
    return env


def html(locale, template, code=200, headers=None, **context):
    body = environment(locale).get_template(template).render(**context)
    response = Response(body, status=code, headers=headers,
                        content_type="text/html; charset=utf-8")
    response.headers["Cache-Control"] = "no-store"
    return secure(response)


def redirect(location, status=303, headers=None):
    response = Response("", status=status, headers=headers)
    response.headers["Location"] = location
    return secure(response)
