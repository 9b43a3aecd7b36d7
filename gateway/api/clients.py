"""Clients: forwarded to the contacts service (see docs/rpc-contacts.md).

Size limits are enforced here too, before any RPC: a body announced (Content-Length)
or found (read with a cap) larger than allowed answers 413 without reading on.
"""
import base64
import logging
import re
import unicodedata
import urllib.parse

from werkzeug.wrappers import Response

from services.common.errors import (BadRequest, PayloadTooLarge, UnsupportedMediaType,
                                    ValidationFailed)
from services.common.web import json_response
from services.contacts.uploads import MAX_PART_BYTES, PART_BYTES, fetch_file, send_file

from ..http import (CONSISTENCY_WAIT_SECONDS, api, date_param, if_match, json_body, resource,
                    today_utc, written)
from ..overview import client_figures

MiB = 1024 * 1024
MAX_PHOTO_BYTES = 2 * MiB
MAX_FILE_BYTES = 20 * MiB
MULTIPART_SLACK = 64 * 1024  # boundaries and part headers around the file
READ_CHUNK = 256 * 1024
MERGE_KEYS = ("duplicate_ids", "fields", "dry_run")
MERGE_REACTORS = ("projects", "billing")  # they re-point their records on a merge

log = logging.getLogger(__name__)

def read_capped(stream, limit, what):
    """Read ``stream`` to its end, refusing (413) as soon as it passes ``limit`` bytes."""
    chunks, size = [], 0
    while True:
        chunk = stream.read(min(READ_CHUNK, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"{what} can be at most {limit // MiB} MiB")
    return b"".join(chunks)


def refuse_large(request, limit, what):
    """413 for a body announced larger than ``limit``; a chunked body (no length) is read
    through a stream that stops past ``limit``."""
    length = request.content_length
    if length is not None and length > limit:
        raise PayloadTooLarge(f"{what} can be at most {limit // MiB} MiB")
    request.max_content_length = limit
    if length is None and "chunked" in request.headers.get("Transfer-Encoding", "").lower():
        # The server decodes chunked bodies and ends the input at the last chunk.
        request.environ["wsgi.input_terminated"] = True


def content_disposition(name):
    """``attachment`` with an ASCII ``filename`` and the exact UTF-8 ``filename*`` (RFC 6266)."""
    fallback = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    fallback = re.sub(r"[^A-Za-z0-9 ._()\-]", "_", fallback).strip() or "download"
    return (f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{urllib.parse.quote(name, safe='')}")


def no_content(position):
    return Response(status=204, headers={"Consistency-Token": f"contacts:{int(position)}"})


class ClientsApi:
    # -- the record ------------------------------------------------------------------------

    def upload_part_bytes(self):
        """Files above this size travel to and from contacts in parts (uploads.py)."""
        return min(int(self.config.get("UPLOAD_PART_BYTES") or PART_BYTES), MAX_PART_BYTES)

    @api("POST", "/api/v1/clients", role="member")
    def create_client(self, request, principal):
        result = self.contacts_rpc.create_client(self.command_context(request, principal),
                                                 json_body(request))
        client = result["client"]
        return written(client, 201, "contacts", result["position"],
                       {"Location": f"/api/v1/clients/{client['id']}"})

    @api("GET", "/api/v1/clients")
    def list_clients(self, request, principal):
        """The list; with ``figures=true`` each item also carries its overview figures
        (projects, outstanding, overdue as of ``as_of``) so a table needs one call."""
        args = request.args.to_dict(flat=True)
        figures_arg = (args.pop("figures", "") or "false").lower()
        if figures_arg not in ("true", "1", "yes", "false", "0", "no"):
            raise BadRequest("figures must be true or false", {"figures": ["true or false"]})
        with_figures = figures_arg in ("true", "1", "yes")
        as_of = date_param(request, "as_of", today_utc()) if with_figures else None
        args.pop("as_of", None)
        page = self.contacts_rpc.list_clients(self.command_context(request, principal), args)
        if with_figures:
            ids = [item["id"] for item in page["items"]]
            with self.db.query() as conn:
                figures = client_figures(conn, self.read_model.tables(), principal.workspace,
                                         ids, as_of)
            for item in page["items"]:
                item["figures"] = figures.get(item["id"])
        return json_response(page)

    @api("GET", "/api/v1/clients/duplicates")
    def client_duplicates(self, request, principal):
        return json_response(self.contacts_rpc.duplicates(
            self.command_context(request, principal), request.args.get("limit"),
            request.args.get("cursor")))

    @api("GET", "/api/v1/clients/<string:client_id>")
    def get_client(self, request, principal, client_id):
        return resource(self.contacts_rpc.get_client(self.command_context(request, principal),
                                                     client_id))

    @api("PATCH", "/api/v1/clients/<string:client_id>", role="member")
    def update_client(self, request, principal, client_id):
        expected = if_match(request)
        result = self.contacts_rpc.update_client(self.command_context(request, principal),
                                                 client_id, json_body(request), expected)
        return written(result["client"], 200, "contacts", result["position"])

    @api("POST", "/api/v1/clients/<string:client_id>/archive", role="member")
    def archive_client(self, request, principal, client_id):
        result = self.contacts_rpc.archive_client(self.command_context(request, principal),
                                                  client_id, if_match(request))
        return written(result["client"], 200, "contacts", result["position"])

    @api("POST", "/api/v1/clients/<string:client_id>/restore", role="member")
    def restore_client(self, request, principal, client_id):
        result = self.contacts_rpc.restore_client(self.command_context(request, principal),
                                                  client_id, if_match(request))
        return written(result["client"], 200, "contacts", result["position"])

    @api("GET", "/api/v1/clients/<string:client_id>/history")
    def client_history(self, request, principal, client_id):
        return json_response(self.contacts_rpc.client_history(
            self.command_context(request, principal), client_id,
            limit=request.args.get("limit"), cursor=request.args.get("cursor")))

    # -- merges ----------------------------------------------------------------------------

    @api("POST", "/api/v1/clients/<string:client_id>/merge", role="member")
    def merge_clients(self, request, principal, client_id):
        body = json_body(request)
        unknown = {key: ["this field is not recognised"] for key in body
                   if key not in MERGE_KEYS}
        if unknown:
            raise ValidationFailed("some fields are invalid", unknown)
        if "duplicate_ids" not in body:
            raise ValidationFailed("some fields are invalid",
                                   {"duplicate_ids": ["name the clients to merge into this one"]})
        result = self.contacts_rpc.merge_clients(
            self.command_context(request, principal), client_id, body["duplicate_ids"],
            body.get("fields"), body.get("dry_run", False))
        payload = {**result["client"], "merge_id": result["merge_id"],
                   "merged_ids": result["merged_ids"], "changes": result["changes"],
                   "moves": result["moves"], "dry_run": result["dry_run"]}
        if result["dry_run"]:
            return json_response(payload)
        return written(payload, 200, self.merge_positions(result["position"]))

    @api("POST", "/api/v1/clients/<string:client_id>/unmerge", role="member")
    def unmerge_clients(self, request, principal, client_id):
        body = json_body(request)
        unknown = {key: ["this field is not recognised"] for key in body if key != "merge_id"}
        if unknown:
            raise ValidationFailed("some fields are invalid", unknown)
        result = self.contacts_rpc.unmerge_clients(
            self.command_context(request, principal), client_id, body.get("merge_id"))
        payload = {**result["client"], "merge_id": result["merge_id"],
                   "restored_ids": result["restored_ids"], "changes": result["changes"]}
        return written(payload, 200, self.merge_positions(result["position"]))

    def merge_positions(self, position):
        """The Consistency-Token positions of a merge or unmerge at contacts'
        ``position``. Projects and billing move the projects and documents in reaction
        to that event, so the token names their positions after they have reacted
        too: a read sending it back sees everything moved, not only the clients. A
        service that does not answer within the wait is left out (its part of the
        read is then eventually consistent), never failing a merge already done."""
        positions = {"contacts": position}
        replies = {name: getattr(self, f"{name}_rpc").caught_up.call_async(
            {"contacts": position}, CONSISTENCY_WAIT_SECONDS) for name in MERGE_REACTORS}
        for name, reply in replies.items():
            try:
                head = reply.result()
            except Exception as exc:  # not running, timed out: the merge stands
                log.warning("merge at contacts:%s: %s did not confirm its moves: %s",
                            position, name, exc)
                continue
            if head is not None:
                positions[name] = head
        return positions

    # -- photo -----------------------------------------------------------------------------

    @api("PUT", "/api/v1/clients/<string:client_id>/photo", role="member")
    def put_client_photo(self, request, principal, client_id):
        if request.mimetype == "multipart/form-data":
            # As a browser's form sends it: the image in the field "file" (or "photo").
            refuse_large(request, MAX_PHOTO_BYTES + MULTIPART_SLACK, "a photo")
            upload = request.files.get("file") or request.files.get("photo")
            if upload is None:
                raise ValidationFailed("some fields are invalid", {
                    "file": ["attach the image in the multipart field 'file'"]})
            stream = upload.stream
        else:
            refuse_large(request, MAX_PHOTO_BYTES, "a photo")
            stream = request.stream
        content = read_capped(stream, MAX_PHOTO_BYTES, "a photo")
        if not content:
            raise BadRequest("send the image as the request body (or as the multipart "
                             "field 'file')")
        result = self.contacts_rpc.set_photo(self.command_context(request, principal),
                                             client_id, base64.b64encode(content).decode())
        return written(result["client"], 200, "contacts", result["position"])

    @api("GET", "/api/v1/clients/<string:client_id>/photo")
    def get_client_photo(self, request, principal, client_id):
        photo = self.contacts_rpc.get_photo(self.command_context(request, principal),
                                            client_id)
        return Response(base64.b64decode(photo["data"]), status=200, headers={
            "Content-Type": photo["content_type"], "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff", "ETag": f'"{photo["version"]}"'})

    @api("DELETE", "/api/v1/clients/<string:client_id>/photo", role="member")
    def delete_client_photo(self, request, principal, client_id):
        result = self.contacts_rpc.remove_photo(self.command_context(request, principal),
                                                client_id)
        return no_content(result["position"])

    # -- attachments -----------------------------------------------------------------------

    @api("POST", "/api/v1/clients/<string:client_id>/files", role="member")
    def attach_client_file(self, request, principal, client_id):
        if request.mimetype != "multipart/form-data":
            raise UnsupportedMediaType("send the file as multipart/form-data, in the field "
                                       "'file'")
        refuse_large(request, MAX_FILE_BYTES + MULTIPART_SLACK, "a file")
        upload = request.files.get("file")
        if upload is None:
            raise ValidationFailed("some fields are invalid",
                                   {"file": ["attach the file in the multipart field 'file'"]})
        content = read_capped(upload.stream, MAX_FILE_BYTES, "a file")
        ctx = self.command_context(request, principal)
        result = self.contacts_rpc.attach_file(
            ctx, client_id, upload.filename or "file",
            send_file(self.contacts_rpc, ctx, content, self.upload_part_bytes()))
        meta = result["file"]
        return written(meta, 201, "contacts", result["position"],
                       {"Location": f"/api/v1/clients/{result['client']['id']}/files/"
                                    f"{meta['id']}"})

    @api("GET", "/api/v1/clients/<string:client_id>/files")
    def list_client_files(self, request, principal, client_id):
        return json_response(self.contacts_rpc.list_files(
            self.command_context(request, principal), client_id))

    @api("GET", "/api/v1/clients/<string:client_id>/files/<string:file_id>")
    def download_client_file(self, request, principal, client_id, file_id):
        found, chunks = fetch_file(self.contacts_rpc, self.command_context(request, principal),
                                   client_id, file_id, self.upload_part_bytes())
        return Response(chunks, status=200, direct_passthrough=True, headers={
            "Content-Type": found["content_type"], "Content-Length": str(found["size"]),
            "Content-Disposition": content_disposition(found["name"]),
            "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-cache"})

    @api("DELETE", "/api/v1/clients/<string:client_id>/files/<string:file_id>", role="member")
    def delete_client_file(self, request, principal, client_id, file_id):
        result = self.contacts_rpc.remove_file(self.command_context(request, principal),
                                               client_id, file_id)
        return no_content(result["position"])
