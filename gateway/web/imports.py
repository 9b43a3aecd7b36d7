"""The Import screen: upload a spreadsheet, preview it (a dry-run job), change how its
columns are mapped, run it with a live progress bar, read the summary, revert it; and
the list of past imports.

Every step is a job of the contacts service, as the API's (``start_import``,
``get_import``, ``import_rows``, ``revert_import``); a preview is a dry run, and
running it (or previewing it again with another mapping) is ``import_again`` on the
preview's file, which the contacts service keeps with the job: the file travels once.

The progress bar follows the job: ``/import/<id>/progress?seen=N`` answers when the
job has moved past ``N`` rows (at most once per ``PROGRESS_MIN_SECONDS``), when it
finishes (at once), or after ``PROGRESS_MAX_SECONDS``; htmx then asks again. A slow
job is asked about rarely, a finished one shows its summary without delay.
"""
import re
import time
import urllib.parse

from babel.numbers import format_percent
from werkzeug.wrappers import Response

from services.common.errors import ClientfolioError, NotFound, PayloadTooLarge, ValidationFailed
from services.contacts.client import spreadsheet
from services.contacts.client.limits import import_max_bytes
from services.contacts.client.parts import read_parts, send_file

from .. import problems
from ..api.clients import content_disposition
from ..http import read_capped
from .pages import is_htmx, localized, page
from .render import redirect, secure

MODES = ("create", "upsert")
BLANK_CELLS = ("keep", "clear")
ACTIVE = ("queued", "running")
# The fields a column can be mapped to (the export's columns, which the importer reads).
MAPPABLE = tuple(path for _, path in spreadsheet.EXPORT_COLUMNS if path != "created_at")
FORM_SLACK = 64 * 1024  # a multipart form's fields and boundaries around the file
ROWS_SHOWN = 100
JOBS_SHOWN = 20
PROGRESS_MIN_SECONDS = 0.4
PROGRESS_MAX_SECONDS = 5.0
CONTACTS_TOKEN = re.compile(r"contacts:\d{1,20}")


def first_errors(errors):
    """``[{"row", "field", "message"}]`` grouped by row, in row order."""
    rows = {}
    for error in errors:
        rows.setdefault(error["row"], []).append(error)
    return sorted(rows.items())


def chosen_mapping(form, job):
    """The mapping of a preview's form: ``None`` when it is the one the preview showed
    (the job's own mapping is used again), else every column's field (``None``: not
    imported). A recognised column that is never imported (date added, photo) and stays
    unmapped is left out, so it stays recognised."""
    headers = form.getlist("column")
    fields = form.getlist("field")
    if not headers:  # a form without the columns' part: as the preview was
        return job.get("mapping")
    shown = {column["header"]: column["field"] for column in job.get("columns", [])}
    chosen = {}
    for header, field in zip(headers, fields):
        if header not in shown:
            continue
        chosen[header] = field or None
    if all(chosen.get(header) == field for header, field in shown.items()):
        return job.get("mapping")
    ignored = set(job.get("ignored_columns") or ())
    return {header: field for header, field in chosen.items()
            if field is not None or header not in ignored}


class WebImports:
    """Mixin of ``GatewayService``: the Import screen's pages."""

    def _import_limit(self):
        return import_max_bytes(self.config)

    # -- the screen: upload form and the past imports ------------------------------------

    @page("GET", "/import")
    def web_import(self, view):
        return self._import_page(view, None)

    def _import_page(self, view, job, status=200, **context):
        """The Import screen with the upload form (``job`` None) or a job."""
        request = view.request
        context.pop("jobs", None)  # the page reads the list itself
        jobs = self.contacts_rpc.list_imports(view.ctx, JOBS_SHOWN,
                                              request.args.get("before") or None)
        context.setdefault("errors", {})
        context.setdefault("codes", {})
        context.setdefault("options", {"mode": "create", "blank_cells": "keep"})
        return view.render("import.html", status, job=job, jobs=jobs["items"],
                           older_url="/import?" + urllib.parse.urlencode(
                               {"before": jobs["next_cursor"]}) if jobs["next_cursor"] else None,
                           max_mib=self._import_limit() // (1024 * 1024),
                           **self._job_context(view, job), **context)

    def _area(self, view, job, status=200, **context):
        """The part of the screen a step replaces: the whole page, or (htmx) the
        ``#import-area`` only. An htmx answer is 200 even when it shows errors: htmx
        swaps only successful answers."""
        if not is_htmx(view.request):
            return self._import_page(view, job, status, **context)
        context.setdefault("errors", {})
        context.setdefault("codes", {})
        context.setdefault("options", {"mode": "create", "blank_cells": "keep"})
        response = view.render("import_area.html", 200, job=job,
                               max_mib=self._import_limit() // (1024 * 1024),
                               **self._job_context(view, job), **context)
        if job is not None:
            response.headers["HX-Push-Url"] = f"/import/{job['id']}"
        return response

    def _job_context(self, view, job):
        """What the job's part of the screen shows besides the job."""
        if job is None:
            return {}
        locale = view.locale
        problem_locale = locale.replace("_", "-")
        total = job.get("total")
        ratio = (job["processed"] / total) if total else (1.0 if job["status"] == "done"
                                                          else 0.0)
        context = {
            "percent": format_percent(min(ratio, 1.0), locale=locale),
            "percent_value": int(min(ratio, 1.0) * 100),
            "error_rows": first_errors(job.get("errors") or []),
            "message_text": lambda text: problems.translate(text, problem_locale),
            "mappable": MAPPABLE,
            "modes": MODES, "blank_choices": BLANK_CELLS,
            "consistency": f"contacts:{job.get('position') or 0}",
        }
        if job["status"] == "done":
            after = view.request.args.get("after") or None
            rows = self.contacts_rpc.import_rows(view.ctx, job["id"], after, ROWS_SHOWN)
            context["rows"] = rows["items"]
            # The clients the rows name (matched, or added by a real import), by name.
            ids = sorted({row["client_id"] for row in rows["items"]
                          if row["client_id"] and row["outcome"] != "error"})
            context["clients"] = self.contacts_rpc.get_clients(view.ctx, ids) if ids else {}
            context["next_rows"] = (f"/import/{job['id']}?"
                                    + urllib.parse.urlencode({"after": rows["next_cursor"]})
                                    if rows["next_cursor"] else None)
            context["first_rows"] = f"/import/{job['id']}" if after else None
        return context

    # -- upload: a preview (dry run) of the file ------------------------------------------

    @page("POST", "/import", role="member")
    def web_import_start(self, view):
        request = view.request
        form = request.form
        options = {"mode": form.get("mode") or "create",
                   "blank_cells": form.get("blank_cells") or "keep"}
        limit = self._import_limit()
        if (request.content_length or 0) > limit + FORM_SLACK:
            return self._area(view, None, 413, codes={"file": "too_large"}, options=options)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            return self._area(view, None, 422, codes={"file": "no_file"}, options=options)
        try:
            content = read_capped(upload.stream, limit, "an import file")
        except PayloadTooLarge:
            return self._area(view, None, 413, codes={"file": "too_large"}, options=options)
        codes = {name: "choose" for name, choices in (("mode", MODES),
                                                       ("blank_cells", BLANK_CELLS))
                 if options[name] not in choices}
        if not content.strip():
            codes["file"] = "empty"
        if codes:
            return self._area(view, None, 422, codes=codes, options=options)
        try:
            spreadsheet.check_type(upload.filename, content, upload.mimetype)
            ctx = view.ctx
            job = self.contacts_rpc.start_import(
                ctx, upload.filename, send_file(self.contacts_rpc, ctx, content,
                                                self.upload_part_bytes()),
                options["mode"], True, None, options["blank_cells"])
        except ClientfolioError as exc:
            return self._refused(view, None, exc, options)
        return self._started(view, job)

    def _refused(self, view, job, exc, options):
        """A step the contacts service refused: its messages next to the fields."""
        if isinstance(exc, NotFound):
            raise exc
        detail, fields = localized(exc, view.locale)
        if not isinstance(exc, ValidationFailed):  # its detail says it best (415, 413)
            fields = {}
        errors = {}
        for path, messages in fields.items():
            name = path.split(".")[0]
            if name not in ("mode", "blank_cells", "mapping"):
                name = "file" if job is None else "mapping"
            errors.setdefault(name, []).extend(messages)
        if not errors:
            errors["file" if job is None else "mapping"] = [detail]
        return self._area(view, job, exc.status, errors=errors, options=options)

    def _started(self, view, job):
        if is_htmx(view.request):
            return self._area(view, job)
        return redirect(f"/import/{job['id']}")

    # -- a job: progress, preview, summary -----------------------------------------------

    @page("GET", "/import/<string:job_id>")
    def web_import_job(self, view, job_id):
        job = self.contacts_rpc.get_import(view.ctx, job_id)
        options = {"mode": job["mode"], "blank_cells": job["blank_cells"]}
        if is_htmx(view.request) and view.request.headers.get("HX-Target") == "import-rows":
            return view.render("import_rows.html", job=job, **self._job_context(view, job))
        token = view.request.args.get("ct") or ""
        return self._import_page(view, job, options=options,
                                 reverted=view.request.args.get("reverted") == "1",
                                 reverted_token=token if CONTACTS_TOKEN.fullmatch(token)
                                 else None)

    @page("GET", "/import/<string:job_id>/progress")
    def web_import_progress(self, view, job_id):
        try:
            seen = int(view.request.args.get("seen") or -1)
        except ValueError:
            seen = -1
        ctx = view.ctx
        job = self.contacts_rpc.get_import(ctx, job_id)
        started = time.monotonic()
        delay = 0.05
        while job["status"] in ACTIVE:
            waited = time.monotonic() - started
            moved = job["processed"] != seen
            if (moved and waited >= PROGRESS_MIN_SECONDS) or waited >= PROGRESS_MAX_SECONDS:
                break
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)
            job = self.contacts_rpc.get_import(ctx, job_id)
        options = {"mode": job["mode"], "blank_cells": job["blank_cells"]}
        finished = job["status"] not in ACTIVE
        context = {}
        if finished and not job["dry_run"]:
            context["jobs"] = self.contacts_rpc.list_imports(ctx, JOBS_SHOWN)["items"]
        return view.render("import_area.html", job=job, options=options, errors={}, codes={},
                           finished=finished, **context, **self._job_context(view, job))

    # -- run, preview again, revert -------------------------------------------------------

    @page("POST", "/import/<string:job_id>/again", role="member")
    def web_import_again(self, view, job_id):
        ctx = view.ctx
        job = self.contacts_rpc.get_import(ctx, job_id)
        form = view.request.form
        options = {"mode": form.get("mode") or job["mode"],
                   "blank_cells": form.get("blank_cells") or job["blank_cells"]}
        dry_run = form.get("action") != "run"
        try:
            mapping = chosen_mapping(form, job)
            started = self.contacts_rpc.import_again(ctx, job["id"], options["mode"], dry_run,
                                                     mapping, options["blank_cells"])
        except ClientfolioError as exc:
            return self._refused(view, job, exc, options)
        return self._started(view, started)

    @page("POST", "/import/<string:job_id>/revert", role="admin")
    def web_import_revert(self, view, job_id):
        ctx = view.ctx
        try:
            result = self.contacts_rpc.revert_import(ctx, job_id)
        except ClientfolioError as exc:
            if isinstance(exc, NotFound):
                raise
            job = self.contacts_rpc.get_import(ctx, job_id)
            return self._area(view, job, exc.status, revert_error=localized(exc, view.locale)[0],
                              options={"mode": job["mode"], "blank_cells": job["blank_cells"]})
        position = result.get("position") or 0
        if not is_htmx(view.request):
            return redirect(f"/import/{job_id}?reverted=1&ct=contacts:{position}")
        job = self.contacts_rpc.get_import(ctx, job_id)
        return self._area(view, job, reverted=True, reverted_token=f"contacts:{position}",
                          options={"mode": job["mode"], "blank_cells": job["blank_cells"]},
                          finished=True,  # the list of past imports shows it reverted
                          jobs=self.contacts_rpc.list_imports(ctx, JOBS_SHOWN)["items"])

    @page("GET", "/import/<string:job_id>/errors.csv")
    def web_import_errors(self, view, job_id):
        """errors.csv of a job, as the API gives it (the session's cookie suffices)."""
        ctx = view.ctx
        first, chunks = read_parts(
            lambda offset, length: self.contacts_rpc.read_import_errors(ctx, job_id, offset,
                                                                        length),
            self.upload_part_bytes())
        return secure(Response(chunks, status=200, direct_passthrough=True, headers={
            "Content-Type": "text/csv; charset=utf-8", "Content-Length": str(first["size"]),
            "Content-Disposition": content_disposition(f"import-{job_id}-errors.csv"),
            "Cache-Control": "private, no-cache"}))

