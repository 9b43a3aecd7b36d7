"""Sending files to contacts and reading them back, in parts.

A file travels over RPC as base64 (4/3 of its size) and RabbitMQ refuses a message above
its ``max_message_size``: a file larger than one part is sent with ``upload_part`` (one
message per part) and named in the command by ``{"upload_id", "parts", "size"}``; a
large file or report is read back with ``offset``/``length`` (see the service's
``uploads.py`` and docs/rpc-contacts.md).
"""
import base64
import uuid

from .limits import PART_BYTES


def send_file(contacts, ctx, content, part_bytes=PART_BYTES):
    """What to pass as a command's ``data`` for ``content``: base64 text if it fits in
    one part, else the reference of an upload sent part by part through ``contacts``
    (an RPC proxy of the contacts service)."""
    if len(content) <= part_bytes:
        return base64.b64encode(content).decode("ascii")
    upload_id = str(uuid.uuid4())
    parts = 0
    for start in range(0, len(content), part_bytes):
        contacts.upload_part(ctx, upload_id, parts,
                             base64.b64encode(content[start:start + part_bytes]).decode("ascii"))
        parts += 1
    return {"upload_id": upload_id, "parts": parts, "size": len(content)}


def read_parts(read_part, part_bytes=PART_BYTES):
    """``(first answer, chunks)`` for ``read_part(offset, length)``, an RPC answering
    ``{"size", "data" (base64), ...}``: the first part is read at once (so that an
    error answers before anything is streamed), the others as ``chunks`` is iterated,
    up to the size the first part announced."""
    first = read_part(0, part_bytes)

    def chunks():
        yield base64.b64decode(first["data"])
        offset = part_bytes
        while offset < first["size"]:
            yield base64.b64decode(read_part(offset, part_bytes)["data"])
            offset += part_bytes

    return first, chunks()


def fetch_file(contacts, ctx, client_id, file_id, part_bytes=PART_BYTES):
    """``(meta, chunks)``: an attachment's metadata and its bytes, read part by part."""
    first, chunks = read_parts(
        lambda offset, length: contacts.read_file(ctx, client_id, file_id, offset, length),
        part_bytes)
    return {key: value for key, value in first.items() if key not in ("data", "offset")}, chunks
