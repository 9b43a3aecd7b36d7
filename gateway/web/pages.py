"""The web app's pages, composed into the gateway service (same origin as ``/api/v1``).

Every page reads and writes through the same code as the JSON API: the services' RPC
commands and queries, and ``gateway.overview`` for the figures. Pages decide nothing
about clients themselves; they turn forms into commands and answers into HTML.
"""
import base64
import functools
import hmac
import logging
import secrets
import urllib.parse
from collections import deque
from datetime import date

from babel import Locale
from werkzeug.security import safe_join
from werkzeug.wrappers import Response

from services.common.errors import (BadRequest, ClientfolioError, Conflict, Forbidden, NotFound,
                                    PayloadTooLarge, PreconditionFailed, ValidationFailed)
from services.common.web import http
from services.contacts.client.parts import fetch_file, send_file

from .. import overview, people, problems, sessions
from services.contacts.client.limits import MAX_FILE_BYTES, MAX_PHOTO_BYTES

from ..api.clients import content_disposition
from ..http import read_capped
from ..http import today_utc, wait_for_consistency
from . import charts, forms, i18n
from .render import STATIC_DIR, html, redirect, secure

log = logging.getLogger(__name__)

LOGIN_CSRF_COOKIE = "cf_login"
LOCALE_COOKIE = "cf_locale"
LIST_FILTERS = ("q", "added_from", "added_to", "category", "country", "archived", "sort")
SORTS = ("name", "-name", "-created_at", "created_at")
PAGE_SIZE = 25
ALL_ITEMS_LIMIT = 500
ALL_ITEMS_PAGES = 20  # a drill-down list reads at most 10,000 documents
HISTORY_SHOWN = 1000
INVOICE_STATUSES = ("draft", "authorized", "paid", "pending", "overdue")
ORDER_STATUSES = ("finalized",)
QUOTE_STATUSES = ("open", "accepted", "draft", "sent", "rejected")
TASK_DUE = ("overdue", "due", "upcoming", "open")
CLIENT_LANGUAGES = ("es", "pt", "ca", "en", "fr", "de", "it", "gl", "eu")
TABS = ("overview", "contact", "projects", "documents", "offers", "files", "history")
STATIC_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                ".txt": "text/plain; charset=utf-8", ".svg": "image/svg+xml",
                ".png": "image/png", ".ico": "image/x-icon"}
PHOTO_TYPES = ("image/png", "image/jpeg", "image/webp")


def localized(exc, locale):
    """``(detail, {field path: [messages]})`` of a service's error in the page's language
    (the gateway's ``errors`` catalogs, as the API answers them)."""
    body = problems.localize_problem(exc, locale.replace("_", "-"))
    return body.get("detail") or "", forms.flat_errors(body.get("errors"))


class SignInNeeded(Exception):
    """The page needs a signed-in person."""


def local_path(target, default="/clients"):
    """``target`` if it is a path of this site (never another site's address)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def is_htmx(request):
    return request.headers.get("HX-Request") == "true"


class View:
    """One request to a page: who asks, in which language, and how to answer."""

    def __init__(self, service, request):
        self.service = service
        self.request = request
        self.principal = None
        self.cookies = []
        self._locale = None

    # -- who ---------------------------------------------------------------------------

    def sign_in(self, role):
        self.principal = sessions.session_principal(self.service.db,
                                                    self.request.cookies.get(sessions.COOKIE))
        if self.principal is None:
            raise SignInNeeded()
        self.principal.require(role)

    def can(self, role):
        return self.principal is not None and \
            people.ROLES.index(self.principal.role) >= people.ROLES.index(role)

    def check_csrf(self):
        sent = self.request.form.get(sessions.CSRF_FIELD) or \
            self.request.headers.get(sessions.CSRF_HEADER)
        if self.principal is not None:
            if not sessions.csrf_matches(self.principal, sent):
                raise Forbidden("the form's security token is missing or wrong; reload the page")
            return
        cookie = self.request.cookies.get(LOGIN_CSRF_COOKIE)
        if not cookie or not sent or not hmac.compare_digest(cookie.encode(),
                                                             str(sent).encode()):
            raise Forbidden("the form's security token is missing or wrong; reload the page")

    @property
    def ctx(self):
        return self.service.command_context(self.request, self.principal)

    # -- language ----------------------------------------------------------------------

    @property
    def locale(self):
        if self._locale is None:
            self._locale = self._choose_locale()
        return self._locale

    def _choose_locale(self):
        if self.principal is not None and i18n.supported(self.principal.locale):
            return i18n.supported(self.principal.locale)
        chosen = i18n.supported(self.request.cookies.get(LOCALE_COOKIE)) or \
            i18n.from_accept_language(self.request.headers.get("Accept-Language"))
        if chosen:
            return chosen
        if self.principal is not None:
            default = i18n.supported(people.workspace_locale(self.service.db,
                                                             self.principal.workspace))
            if default:
                return default
        return i18n.DEFAULT_LOCALE

    # -- answers -----------------------------------------------------------------------

    def csrf_token(self):
        if self.principal is not None:
            return self.principal.csrf_token
        token = self.request.cookies.get(LOGIN_CSRF_COOKIE)
        if not token or len(token) > 100:
            token = secrets.token_urlsafe(32)
            self.cookies.append((LOGIN_CSRF_COOKIE, token, None))
        return token

    def render(self, template, code=200, **context):
        path = self.request.full_path.rstrip("?")
        response = html(self.locale, template, code, view=self, principal=self.principal,
                        csrf=self.csrf_token(), current_path=path, **context)
        return self.finish(response)

    def finish(self, response):
        for name, value, max_age in self.cookies:
            set_cookie(self.request, response, name, value, max_age)
        return response


def set_cookie(request, response, name, value, max_age=None):
    # Secure unless the app is served over plain HTTP to this machine (make run).
    host = request.host.split(":")[0]
    plain_local = request.scheme == "http" and host in ("127.0.0.1", "localhost", "::1")
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax",
                        secure=not plain_local, path="/")


def page(method, url, role="viewer", public=False):
    """A page: ``fn(self, view, **path)``. Signs the person in (else to /login), checks the
    CSRF token of every non-GET, and answers errors as pages, never as JSON."""
    def decorate(fn):
        @functools.wraps(fn)
        def endpoint(self, request, **path):
            view = View(self, request)
            try:
                if not public:
                    view.sign_in(role)
                else:  # signed in or not; a signed-in person's forms carry the session's token
                    view.principal = sessions.session_principal(
                        self.db, request.cookies.get(sessions.COOKIE))
                if request.method not in sessions.SAFE_METHODS:
                    view.check_csrf()
                return fn(self, view, **path)
            except SignInNeeded:
                target = "/login?" + urllib.parse.urlencode(
                    {"next": request.full_path.rstrip("?")})
                if is_htmx(request):
                    return secure(Response("", 200, headers={"HX-Redirect": target}))
                return redirect(target)
            except ClientfolioError as exc:
                return view.render("error.html", exc.status, status=exc.status,
                                   detail=localized(exc, view.locale)[0])
            except Exception:
                log.exception("page %s failed", request.path)
                return view.render("error.html", 500, status=500, detail="")
        return http(method, url)(endpoint)
    return decorate


def fetch_all(call, limit=ALL_ITEMS_LIMIT):
    """Every item of a paged list (``call(cursor)`` -> ``{"items", "next_cursor"}``)."""
    items, cursor = [], None
    for _ in range(ALL_ITEMS_PAGES):
        answer = call(cursor)
        items.extend(answer["items"])
        cursor = answer.get("next_cursor")
        if not cursor:
            break
    return items, cursor is not None


def sums(items, field):
    """``{currency: Decimal}`` of ``field`` over documents."""
    from decimal import Decimal

    total = {}
    for item in items:
        value = item.get(field)
        if value is None:
            continue
        total[item["currency"]] = total.get(item["currency"], Decimal(0)) + Decimal(str(value))
    return dict(sorted(total.items()))


def countries(locale):
    names = Locale.parse(locale).territories
    return sorted(((code, name) for code, name in names.items()
                   if len(code) == 2 and code.isalpha() and code not in ("ZZ", "EU", "EZ",
                                                                         "UN", "QO", "XA",
                                                                         "XB", "XK")),
                  key=lambda pair: pair[1])


def calling_codes():
    import phonenumbers

    return {region: phonenumbers.country_code_for_region(region)
            for region in phonenumbers.SUPPORTED_REGIONS}


def language_names(locale):
    names = Locale.parse(locale).languages
    return [(code, names.get(code, code)) for code in CLIENT_LANGUAGES]


def as_of_param(request):
    value = request.args.get("as_of") or ""
    if not value:
        return today_utc(), None
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return today_utc(), "as_of"


class WebApp:
    # Method names are unique across the gateway's mixins (one class composes them all).

    # -- static files and the start page --------------------------------------------------

    @http("GET", "/static/<path:name>")
    def web_static(self, request, name):
        path = safe_join(str(STATIC_DIR), name)
        if path is None:
            return secure(Response("not found", 404, content_type="text/plain"))
        try:
            with open(path, "rb") as handle:
                body = handle.read()
        except (FileNotFoundError, IsADirectoryError):
            return secure(Response("not found", 404, content_type="text/plain"))
        suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
        response = Response(body, 200, content_type=STATIC_TYPES.get(
            suffix, "application/octet-stream"))
        response.headers["Cache-Control"] = "public, max-age=3600"
        return secure(response)

    @page("GET", "/", public=True)
    def web_home(self, view):
        return redirect("/clients")

    # -- signing in and out ---------------------------------------------------------------

    @page("GET,POST", "/login", public=True)
    def web_login(self, view):
        request = view.request
        target = local_path(request.values.get("next"))
        if request.method == "GET":
            return view.render("login.html", next=target, email="", error=None)
        email = (request.form.get("email") or "").strip()
        try:
            user = people.verify_sign_in(self.db, email, request.form.get("password") or "")
        except people.Throttled as exc:
            response = view.render("login.html", 429, next=target, email=email,
                                   error="throttled", minutes=max(1, (exc.retry_after + 59) // 60))
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        workspaces = {}
        if user is not None:
            with self.db.read() as conn:
                workspaces = people.memberships(conn, user.id)
        if user is None or not workspaces:
            return view.render("login.html", 401, next=target, email=email,
                               error="no_workspace" if user is not None else "invalid")
        session_id = sessions.start_session(self.db, user.id, sorted(workspaces)[0])
        response = redirect(target)
        set_cookie(request, response, sessions.COOKIE, session_id)
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/")
        return response

    @page("POST", "/logout")
    def web_logout(self, view):
        sessions.end_session(self.db, view.request.cookies.get(sessions.COOKIE))
        response = redirect("/login")
        response.delete_cookie(sessions.COOKIE, path="/")
        return response

    @page("GET,POST", "/set-password", public=True)
    def web_set_password(self, view):
        request = view.request
        token = request.values.get("token") or ""
        if request.method == "GET":
            return view.render("set_password.html", token=token, error=None,
                               valid=people.password_link_valid(self.db, token))
        password = request.form.get("password") or ""
        if password != (request.form.get("confirm") or ""):
            return view.render("set_password.html", 422, token=token, error="mismatch",
                               valid=True)
        try:
            done = people.use_password_link(self.db, token, password)
        except people.PeopleError:
            return view.render("set_password.html", 422, token=token, error="weak", valid=True)
        if not done:
            return view.render("set_password.html", 400, token=token, error=None, valid=False)
        return redirect("/login?done=password")

    @page("GET", "/account")
    def web_account(self, view):
        with self.db.read() as conn:
            workspaces = people.memberships(conn, view.principal.user_id)
        return view.render("account.html", error=None, workspaces=workspaces)

    @page("POST", "/account/password")
    def web_change_password(self, view):
        form = view.request.form
        with self.db.read() as conn:
            workspaces = people.memberships(conn, view.principal.user_id)
        error = None
        if (form.get("new_password") or "") != (form.get("confirm") or ""):
            error = "mismatch"
        else:
            try:
                if not people.change_password(self.db, view.principal.user_id,
                                              form.get("current_password"),
                                              form.get("new_password")):
                    error = "wrong"
            except people.PeopleError:
                error = "weak"
        if error:
            return view.render("account.html", 422, error=error, workspaces=workspaces)
        # Every session of the person ended with the old password, this one too.
        response = redirect("/login?done=password")
        response.delete_cookie(sessions.COOKIE, path="/")
        return response

    @page("POST", "/account/workspace")
    def web_switch_workspace(self, view):
        workspace = view.request.form.get("workspace") or ""
        with self.db.read() as conn:
            if workspace not in people.memberships(conn, view.principal.user_id):
                raise NotFound("no such workspace")
        sessions.switch_workspace(self.db, view.principal, workspace)
        return redirect("/clients")

    @page("POST", "/language", public=True)
    def web_language(self, view):
        request = view.request
        locale = i18n.supported(request.form.get("locale")) or i18n.DEFAULT_LOCALE
        if view.principal is not None:
            people.set_locale(self.db, view.principal.user_id, locale)
        response = redirect(local_path(request.form.get("next")))
        set_cookie(request, response, LOCALE_COOKIE, locale, max_age=365 * 24 * 3600)
        return response

    # -- clients --------------------------------------------------------------------------

    @page("GET", "/clients")
    def web_clients(self, view):
        request = view.request
        filters = {name: request.args.get(name, "").strip() for name in LIST_FILTERS}
        if filters["sort"] not in SORTS:
            filters["sort"] = ""
        if filters["archived"] not in ("", "false", "true", "all"):
            filters["archived"] = ""
        params = {name: value for name, value in filters.items() if value}
        params["limit"] = str(PAGE_SIZE)
        if request.args.get("cursor"):
            params["cursor"] = request.args["cursor"]
        error, page_items, next_cursor = None, [], None
        try:
            answer = self.contacts_rpc.list_clients(view.ctx, params)
            page_items, next_cursor = answer["items"], answer.get("next_cursor")
        except BadRequest as exc:
            detail, fields = localized(exc, view.locale)
            error = fields or {"": [detail]}
        ids = [item["id"] for item in page_items]
        figures = self.read_model.read(lambda conn, tables: overview.client_figures(
            conn, tables, view.principal.workspace, ids, today_utc()))
        query = {name: value for name, value in filters.items() if value}
        export = urllib.parse.urlencode({**query, "format": "csv"})
        partial = is_htmx(request) and request.headers.get("HX-Target") == "results"
        template = "clients_results.html" if partial else "clients.html"
        return view.render(template, partial=partial, filters=filters, items=page_items, figures=figures,
                           next_url="/clients?" + urllib.parse.urlencode(
                               {**query, "cursor": next_cursor}) if next_cursor else None,
                           first_url="/clients?" + urllib.parse.urlencode(query)
                           if request.args.get("cursor") else None,
                           export_csv=f"/api/v1/clients/export?{export}",
                           export_xlsx=f"/api/v1/clients/export?"
                                       f"{urllib.parse.urlencode({**query, 'format': 'xlsx'})}",
                           error=error, filtered=bool(query),
                           countries=countries(view.locale), sorts=SORTS)

    @page("GET,POST", "/clients/new", role="member")
    def web_new_client(self, view):
        request = view.request
        if request.method == "GET":
            return self._client_form(view, "client_new.html", {"kind": "company"}, {})
        values = forms.form_values(request.form)
        errors = {}
        photo = request.files.get("photo")
        photo_bytes = None
        if photo is not None and photo.filename:
            try:
                photo_bytes = read_capped(photo.stream, MAX_PHOTO_BYTES, "a photo")
            except PayloadTooLarge as exc:
                errors["photo"] = [localized(exc, view.locale)[0]]
            if photo_bytes is not None and photo.mimetype not in PHOTO_TYPES:
                errors["photo"] = ["bad_photo"]  # the template words it
        if errors:
            return self._client_form(view, "client_new.html", values, errors, 422)
        try:
            result = self.contacts_rpc.create_client(view.ctx, forms.client_data(values))
        except ValidationFailed as exc:
            return self._client_form(view, "client_new.html", values,
                                     localized(exc, view.locale)[1], 422)
        except Conflict as exc:
            return self._client_form(view, "client_new.html", values,
                                     {"tax_id": [localized(exc, view.locale)[0]]}, 409,
                                     existing_id=exc.extra.get("existing_id"))
        client = result["client"]
        position = result["position"]
        if photo_bytes:
            try:
                position = self.contacts_rpc.set_photo(
                    view.ctx, client["id"], base64.b64encode(photo_bytes).decode())["position"]
            except ClientfolioError as exc:
                log.info("photo of new client %s refused: %s", client["id"], exc)
        return redirect(f"/clients/{client['id']}?ct=contacts:{position}")

    def _client_form(self, view, template, values, errors, status=200, **context):
        return view.render(template, status, values=values, errors=errors,
                           countries=countries(view.locale), calling_codes=calling_codes(),
                           client_languages=language_names(view.locale), genders=forms.GENDERS,
                           **context)

    # -- the client page ------------------------------------------------------------------

    def _client(self, view, client_id, tab, **context):
        """The client page with ``tab`` open."""
        token = view.request.args.get("ct")
        if token:  # the write just made (a redirect after a form) is visible here
            try:
                wait_for_consistency(self.projector, token)
            except ClientfolioError:
                pass
        client = self.contacts_rpc.get_client(view.ctx, client_id)
        template = f"tab_{tab}.html"
        return view.render(template, client=client, tab=tab, **context)

    @page("GET", "/clients/<string:client_id>")
    def web_client(self, view, client_id):
        as_of, bad = as_of_param(view.request)
        client = None
        figures = self.read_model.read(lambda conn, tables: overview.client_overview(
            conn, tables, view.principal.workspace, client_id, as_of))
        if figures is None:
            client = self.contacts_rpc.get_client(view.ctx, client_id)  # 404 if not ours
        return self._client(view, client_id, "overview", figures=figures,
                            as_of=as_of.isoformat(), bad_as_of=bad,
                            today=today_utc().isoformat(),
                            pies=charts.pies(figures["chart"]["invoices"]) if figures else [],
                            pending_client=client)

    @page("GET,POST", "/clients/<string:client_id>/contact")
    def web_client_contact(self, view, client_id):
        request = view.request
        if request.method == "GET":
            client = self.contacts_rpc.get_client(view.ctx, client_id)
            return self._contact(view, client, forms.values_of(client), {})
        view.principal.require("member")
        values = forms.form_values(request.form)
        try:
            version = int(request.form.get("version") or "")
        except ValueError:
            raise BadRequest("the form lost the client's version; reload the page") from None
        try:
            result = self.contacts_rpc.update_client(
                view.ctx, client_id, forms.client_data(values, for_update=True), version)
        except PreconditionFailed:
            current = self.contacts_rpc.get_client(view.ctx, client_id)
            theirs = forms.values_of(current)
            differences = [name for name in forms.FIELDS if theirs[name] != values[name]]
            return self._contact(view, current, values, {}, 412, conflict=differences,
                                 theirs=theirs)
        except ValidationFailed as exc:
            client = self.contacts_rpc.get_client(view.ctx, client_id)
            return self._contact(view, client, values, localized(exc, view.locale)[1], 422,
                                 version=version)
        except Conflict as exc:
            client = self.contacts_rpc.get_client(view.ctx, client_id)
            return self._contact(view, client, values,
                                 {"tax_id": [localized(exc, view.locale)[0]]}, 409,
                                 version=version, existing_id=exc.extra.get("existing_id"))
        return redirect(f"/clients/{client_id}/contact?saved=1&ct=contacts:{result['position']}")

    def _contact(self, view, client, values, errors, status=200, **context):
        context.setdefault("version", client["version"])
        return self._client_form(view, "tab_contact.html", values, errors, status,
                                 client=client, tab="contact",
                                 saved=view.request.args.get("saved") == "1", **context)

    @page("GET", "/clients/<string:client_id>/projects")
    def web_client_projects(self, view, client_id):
        as_of, bad = as_of_param(view.request)
        ctx = view.ctx
        projects, more = fetch_all(lambda cursor: self.projects_rpc.list_projects(
            ctx, {"client_id": client_id}, ALL_ITEMS_LIMIT, cursor))
        due = view.request.args.get("due") or ""
        def read(conn, tables):
            if overview.find_client(conn, tables, view.principal.workspace, client_id) is None:
                return None, [], False
            found = overview.client_overview(conn, tables, view.principal.workspace,
                                             client_id, as_of)
            if due not in TASK_DUE:
                return found, [], False
            return (found, *fetch_all(lambda cursor: overview.client_tasks(
                conn, tables, view.principal.workspace, client_id, due, as_of,
                ALL_ITEMS_LIMIT, cursor)))

        figures, tasks, tasks_more = self.read_model.read(read, snapshot=True)
        by_id = {item["id"]: item for item in (figures or {}).get("projects", {})
                 .get("items", [])}
        return self._client(view, client_id, "projects", projects=projects, more=more,
                            by_id=by_id, due=due if due in TASK_DUE else "", tasks=tasks,
                            tasks_more=tasks_more, as_of=as_of.isoformat(), bad_as_of=bad)

    @page("GET", "/clients/<string:client_id>/documents")
    def web_client_documents(self, view, client_id):
        request = view.request
        as_of, bad = as_of_param(request)
        ctx = view.ctx
        status = request.args.get("status") or ""
        if status not in INVOICE_STATUSES:
            status = ""
        order_status = request.args.get("order_status") or ""
        if order_status not in ORDER_STATUSES:
            order_status = ""
        invoice_filters = {"client_id": client_id, "as_of": as_of.isoformat(),
                           "limit": str(ALL_ITEMS_LIMIT), **({"status": status} if status else {})}
        invoices, more = fetch_all(lambda cursor: self.billing_rpc.list_invoices(
            ctx, {**invoice_filters, **({"cursor": cursor} if cursor else {})}))
        order_filters = {"client_id": client_id, "limit": str(ALL_ITEMS_LIMIT),
                         **({"status": order_status} if order_status else {})}
        orders, orders_more = fetch_all(lambda cursor: self.billing_rpc.list_purchase_orders(
            ctx, {**order_filters, **({"cursor": cursor} if cursor else {})}))
        owed = status in ("pending", "overdue")  # those figures count what is still owed
        return self._client(view, client_id, "documents", invoices=invoices, more=more,
                            status=status, owed=owed,
                            invoice_sums=sums(invoices, "outstanding" if owed else "total"),
                            orders=orders, orders_more=orders_more, order_status=order_status,
                            order_sums=sums(orders, "total"), as_of=as_of.isoformat(),
                            bad_as_of=bad, statuses=INVOICE_STATUSES)

    @page("GET", "/clients/<string:client_id>/offers")
    def web_client_offers(self, view, client_id):
        ctx = view.ctx
        status = view.request.args.get("status") or ""
        if status not in QUOTE_STATUSES:
            status = ""
        filters = {"client_id": client_id, "limit": str(ALL_ITEMS_LIMIT),
                   **({"status": status} if status else {})}
        quotes, more = fetch_all(lambda cursor: self.billing_rpc.list_quotes(
            ctx, {**filters, **({"cursor": cursor} if cursor else {})}))
        return self._client(view, client_id, "offers", quotes=quotes, more=more, status=status,
                            quote_sums=sums(quotes, "total"), statuses=QUOTE_STATUSES)

    @page("GET", "/clients/<string:client_id>/history")
    def web_client_history(self, view, client_id):
        ctx = view.ctx
        # The service pages oldest first; the tab shows the newest HISTORY_SHOWN, newest first.
        items, cursor, more = deque(maxlen=HISTORY_SHOWN), None, False
        while True:
            answer = self.contacts_rpc.client_history(ctx, client_id, limit=ALL_ITEMS_LIMIT,
                                                      cursor=cursor)
            more = more or len(items) + len(answer["items"]) > HISTORY_SHOWN
            items.extend(answer["items"])
            cursor = answer.get("next_cursor")
            if not cursor:
                break
        return self._client(view, client_id, "history", items=list(reversed(items)), more=more)

    # -- files and the photo --------------------------------------------------------------

    @page("GET", "/clients/<string:client_id>/files")
    def web_client_files(self, view, client_id):
        return self._files(view, client_id)

    def _files(self, view, client_id, status=200, error=None):
        files = self.contacts_rpc.list_files(view.ctx, client_id)["items"]
        uploaded = view.request.args.get("uploaded") if status == 200 else None
        response = self._client(view, client_id, "files", files=files, uploaded=uploaded,
                                error=error)
        response.status_code = status
        return response

    @page("POST", "/clients/<string:client_id>/files", role="member")
    def web_upload_file(self, view, client_id):
        request = view.request
        if (request.content_length or 0) > MAX_FILE_BYTES + 64 * 1024:
            return self._files(view, client_id, 413, error="too_large")
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return self._files(view, client_id, 422, error="no_file")
        try:
            content = read_capped(upload.stream, MAX_FILE_BYTES, "a file")
        except PayloadTooLarge:
            return self._files(view, client_id, 413, error="too_large")
        ctx = view.ctx
        result = self.contacts_rpc.attach_file(
            ctx, client_id, upload.filename,
            send_file(self.contacts_rpc, ctx, content, self.upload_part_bytes()))
        name = urllib.parse.quote(result["file"]["name"])
        return redirect(f"/clients/{client_id}/files?uploaded={name}"
                        f"&ct=contacts:{result['position']}")

    @page("GET", "/clients/<string:client_id>/files/<string:file_id>")
    def web_download_file(self, view, client_id, file_id):
        found, chunks = fetch_file(self.contacts_rpc, view.ctx, client_id, file_id,
                                   self.upload_part_bytes())
        return secure(Response(chunks, status=200, direct_passthrough=True, headers={
            "Content-Type": found["content_type"], "Content-Length": str(found["size"]),
            "Content-Disposition": content_disposition(found["name"]),
            "Cache-Control": "private, no-cache"}))

    @page("POST", "/clients/<string:client_id>/photo", role="member")
    def web_upload_photo(self, view, client_id):
        request = view.request
        upload = request.files.get("photo")
        if upload is None or not upload.filename:
            return self._files(view, client_id, 422, error="no_photo")
        try:
            content = read_capped(upload.stream, MAX_PHOTO_BYTES, "a photo")
        except PayloadTooLarge:
            return self._files(view, client_id, 413, error="photo_too_large")
        try:
            result = self.contacts_rpc.set_photo(view.ctx, client_id,
                                                 base64.b64encode(content).decode())
        except (ValidationFailed, BadRequest, ClientfolioError) as exc:
            if isinstance(exc, NotFound):
                raise
            return self._files(view, client_id, 422, error="bad_photo")
        return redirect(f"/clients/{client_id}/files?ct=contacts:{result['position']}")

    @page("GET", "/clients/<string:client_id>/photo")
    def web_client_photo(self, view, client_id):
        photo = self.contacts_rpc.get_photo(view.ctx, client_id)
        return secure(Response(base64.b64decode(photo["data"]), status=200, headers={
            "Content-Type": photo["content_type"], "Cache-Control": "private, no-cache",
            "ETag": f'"{photo["version"]}"'}))
