"""Bulk import and export of clients (see docs/imports.md).

Imports are jobs run by the contacts service: the upload is checked here for its size
(413, the endpoint's ``body_limit``) before any RPC, then handed over; the contacts
service checks its type (415) and header (422) at once and queues the job. Exports page through the contacts list in
keyset pages and stream the file: memory does not grow with the number of clients.

The static routes (``/api/v1/clients/imports``, ``/api/v1/clients/export``) win over
``/api/v1/clients/<client_id>`` in werkzeug's router.
"""
import time

from werkzeug.wrappers import Response

from services.common.consistency import format_token
from services.common.errors import BadRequest, UnsupportedMediaType, ValidationFailed
from services.common.web import json_response
from services.contacts.client import exports, spreadsheet, vcards
from services.contacts.client.limits import import_max_bytes
from services.contacts.client.parts import read_parts, send_file

from ..http import api, read_capped, today_utc, written
from .clients import content_disposition, upload_limit

WAIT_SECONDS = 600.0
IMPORT_FIELDS = ("mode", "dry_run", "mapping", "blank_cells", "preset")


def wait_param(request):
    """``?wait=true|false`` (also 1/0, yes/no); anything else is a 400."""
    value = (request.args.get("wait") or "false").strip().lower()
    if value not in ("1", "true", "yes", "0", "false", "no"):
        raise BadRequest("'wait' must be true or false", {"wait": ["true or false"]})
    return value in ("1", "true", "yes")


def job_response(job, status=200, headers=None, brief=False):
    """A job's answer, with a ``Consistency-Token`` for what it has written so far
    (everything, once it is done): a read sending it back sees the imported clients."""
    job = dict(job)
    headers = {**(headers or {}),
               "Consistency-Token": format_token({"contacts": job.pop("position", 0)})}
    body = {"id": job["id"], "status": job["status"]} if brief else job
    return json_response(body, status, headers)


class ClientImportsApi:
    def import_limit(self):
        return import_max_bytes(self.config)

    @api("POST", "/api/v1/clients/imports", role="member",
         body_limit=upload_limit(lambda service: service.import_limit(), "an import file"))
    def start_client_import(self, request, principal):
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType("send the spreadsheet as multipart/form-data, in the "
                                       "field 'file'")
        wait = wait_param(request)
        limit = self.import_limit()
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("some fields are invalid",
                                   {"file": ["attach the spreadsheet in the multipart field "
                                             "'file'"]})
        content = read_capped(upload.stream, limit, "an import file")
        # Refused here too, before the file travels to contacts.
        spreadsheet.check_type(upload.filename, content, upload.mimetype)
        unknown = {key: ["this field is not recognised"] for key in request.form
                   if key not in IMPORT_FIELDS}
        if unknown:
            raise ValidationFailed("some fields are invalid", unknown)
        ctx = self.command_context(request, principal)
        job = self.contacts_rpc.start_import(
            ctx, upload.filename or "import",
            send_file(self.contacts_rpc, ctx, content, self.upload_part_bytes()),
            request.form.get("mode") or "create", request.form.get("dry_run") or "false",
            request.form.get("mapping") or None, request.form.get("blank_cells") or "keep",
            request.form.get("preset") or None)
        location = {"Location": f"/api/v1/clients/imports/{job['id']}"}
        if wait:
            deadline = time.monotonic() + WAIT_SECONDS
            delay = 0.01
            while job["status"] in ("queued", "running") and time.monotonic() < deadline:
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)
                job = self.contacts_rpc.get_import(ctx, job["id"])
            return job_response(job, 200, location)
        return job_response(job, 202, location, brief=True)

    @api("GET", "/api/v1/clients/imports/<string:job_id>")
    def get_client_import(self, request, principal, job_id):
        return job_response(self.contacts_rpc.get_import(
            self.command_context(request, principal), job_id))

    @api("GET", "/api/v1/clients/imports/<string:job_id>/rows")
    def client_import_rows(self, request, principal, job_id):
        return json_response(self.contacts_rpc.import_rows(
            self.command_context(request, principal), job_id, request.args.get("cursor"),
            request.args.get("limit") or 500))

    @api("GET", "/api/v1/clients/imports/<string:job_id>/errors.csv")
    def client_import_errors(self, request, principal, job_id):
        ctx = self.command_context(request, principal)
        first, chunks = read_parts(
            lambda offset, length: self.contacts_rpc.read_import_errors(ctx, job_id, offset,
                                                                        length),
            self.upload_part_bytes())
        return Response(chunks, status=200, direct_passthrough=True, headers={
            "Content-Type": "text/csv; charset=utf-8", "Content-Length": str(first["size"]),
            "Content-Disposition": content_disposition(f"import-{job_id}-errors.csv"),
            "Cache-Control": "private, no-cache"})

    # Admins manage imports' reverts (a revert archives and restores many clients at once).
    @api("POST", "/api/v1/clients/imports/<string:job_id>/revert", role="admin")
    def revert_client_import(self, request, principal, job_id):
        result = self.contacts_rpc.revert_import(self.command_context(request, principal),
                                                 job_id)
        return written(result, 200, "contacts", result.get("position") or 0)

    @api("GET", "/api/v1/clients/export")
    def export_clients(self, request, principal):
        format = (request.args.get("format") or "csv").lower()
        if format not in exports.FORMATS:
            raise BadRequest("'format' must be csv, xlsx or vcf",
                             {"format": ["csv, xlsx or vcf"]})
        ctx = self.command_context(request, principal)
        params = exports.list_params(request.args)
        rpc = self.contacts_rpc
        # The first page is read now, so that a bad filter answers 400 before streaming.
        first = rpc.list_clients(ctx, {**params, "limit": str(exports.PAGE_SIZE),
                                       "sort": "created_at"})

        def list_page(page_params):
            if "cursor" not in page_params:
                return first
            return rpc.list_clients(ctx, page_params)

        records = exports.pages(list_page, params)
        photo_of = vcards.photo_of_rpc(lambda client_id: rpc.get_photo(ctx, client_id))
        return Response(exports.stream(records, format, photo_of), status=200, headers={
            "Content-Type": exports.FORMATS[format],
            "Content-Disposition": content_disposition(
                exports.file_name(format, today_utc())),
            "Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"},
            direct_passthrough=True)


__all__ = ["ClientImportsApi"]
