"""Large files over RPC, in parts.

A file travels over RPC as base64 (4/3 of its size) and RabbitMQ refuses a message
above its ``max_message_size`` (16 MiB by default since RabbitMQ 4.0): a 50 MiB
import or a 20 MiB attachment does not fit in one message. So a caller sends a file
larger than one part with ``upload_part`` (one message per part, at most
``MAX_PART_BYTES``), then names the upload in the command (``{"upload_id", "parts",
"size"}`` where the base64 ``data`` would go). Parts are kept in the database, not in
a process, so that any replica may take any part and the command; the command removes
them in its own transaction, so an upload is used once. Parts that no command took are
removed after ``STALE_SECONDS``. Downloads are read back in parts (``read_file``).
The caller's side (``send_file``, ``fetch_file``, ``read_parts``) is ``client.parts``.
"""
import base64
import binascii
import time
import uuid

from sqlalchemy import (Column, Float, Index, Integer, LargeBinary, MetaData, String, Table,
                        delete, func, select)

from services.common.context import CommandContext
from services.common.errors import BadRequest, Conflict, PayloadTooLarge
from services.common.rpc import rpc

from .client.limits import MAX_PART_BYTES, MAX_UPLOAD_BYTES, MiB

STALE_SECONDS = 3600.0

metadata = MetaData()

upload_parts_table = Table(
    "upload_parts", metadata,
    Column("upload_id", String(36), primary_key=True),
    Column("part", Integer, primary_key=True, autoincrement=False),
    Column("workspace", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", Float, nullable=False),
    Index("ix_upload_parts_created_at", "created_at"),
)


def decode_base64(data, field="data"):
    if not isinstance(data, str):
        raise BadRequest("the file content must be base64 text", {field: ["not base64"]})
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("the file content must be base64 text", {field: ["not base64"]}) \
            from None


def _upload_ref(data):
    """``(upload_id, parts, size)`` of an upload reference, or ``None`` for base64 text."""
    if not isinstance(data, dict):
        return None
    try:
        upload_id = str(uuid.UUID(str(data["upload_id"])))
        parts, size = data["parts"], data["size"]
    except (KeyError, ValueError, TypeError, AttributeError):
        raise BadRequest("an upload is named by its upload_id, parts and size",
                         {"data": ["expected {upload_id, parts, size}"]}) from None
    if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in (parts, size)):
        raise BadRequest("an upload's parts and size must be positive whole numbers",
                         {"data": ["expected {upload_id, parts, size}"]})
    return upload_id, parts, size


def read_content(db, workspace, data, limit):
    """The bytes that ``data`` stands for: base64 text, or an upload sent in parts.

    ``limit`` is checked here (413) whatever the form. Parts are only read: the
    command removes them with ``take_upload`` in its own transaction.
    """
    ref = _upload_ref(data)
    if ref is None:
        content = decode_base64(data)
    else:
        upload_id, parts, size = ref
        if size > limit:
            raise PayloadTooLarge(f"the file can be at most {limit // MiB} MiB")
        with db.read() as conn:
            rows = conn.execute(
                select(upload_parts_table.c.part, upload_parts_table.c.content)
                .where(upload_parts_table.c.upload_id == upload_id)
                .where(upload_parts_table.c.workspace == workspace)
                .order_by(upload_parts_table.c.part)).all()
        if [row.part for row in rows] != list(range(parts)):
            raise Conflict("this upload is incomplete or was already used: send the file "
                           "again")
        content = b"".join(bytes(row.content) for row in rows)
        if len(content) != size:
            raise Conflict("this upload does not have the size it was announced with: send "
                           "the file again")
    if len(content) > limit:
        raise PayloadTooLarge(f"the file can be at most {limit // MiB} MiB")
    return content


def take_upload(conn, workspace, data):
    """Remove the parts of the upload ``data`` names (in the command's transaction);
    a ``Conflict`` if another command took them first. Nothing for base64 text."""
    ref = _upload_ref(data)
    if ref is None:
        return
    upload_id, parts, _ = ref
    removed = conn.execute(delete(upload_parts_table)
                           .where(upload_parts_table.c.upload_id == upload_id)
                           .where(upload_parts_table.c.workspace == workspace)).rowcount
    if removed != parts:
        raise Conflict("this upload was already used: send the file again")


def check_range(offset, length):
    """400 unless ``offset``/``length`` name a part that fits in one message."""
    if any(isinstance(n, bool) or not isinstance(n, int) for n in (offset, length)) \
            or offset < 0 or not 0 < length <= MAX_PART_BYTES:
        raise BadRequest("offset and length must be whole numbers, length at most "
                         f"{MAX_PART_BYTES // MiB} MiB")


class UploadsRpc:
    """Mixin of ``ContactsService``: the parts of large uploads (uses the service's
    ``store`` and ``config`` dependencies)."""

    @rpc
    def upload_part(self, ctx, upload_id, part, data):
        """Keep part ``part`` (from 0) of upload ``upload_id`` (a uuid the caller chose);
        sending a part again replaces it. ``{"upload_id", "part", "size"}``."""
        ctx = CommandContext.load(ctx)
        try:
            upload_id = str(uuid.UUID(str(upload_id)))
        except ValueError:
            raise BadRequest("the upload_id must be a uuid", {"upload_id": ["not a uuid"]}) \
                from None
        if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part < 10_000:
            raise BadRequest("a part number is a whole number from 0", {"part": ["invalid"]})
        content = decode_base64(data)
        if len(content) > MAX_PART_BYTES:
            raise PayloadTooLarge(f"a part can be at most {MAX_PART_BYTES // MiB} MiB")
        now = time.time()
        table = upload_parts_table
        with self.store.db.write() as conn:
            conn.execute(delete(table).where(table.c.created_at < now - STALE_SECONDS))
            mine = (table.c.upload_id == upload_id) & (table.c.workspace == ctx.workspace)
            conn.execute(delete(table).where(mine).where(table.c.part == part))
            others = conn.execute(select(func.coalesce(func.sum(func.length(table.c.content)),
                                                       0)).where(mine)).scalar()
            limit = max(MAX_UPLOAD_BYTES, int(self.config.get("IMPORT_MAX_BYTES") or 0))
            if others + len(content) > limit:
                raise PayloadTooLarge(f"an upload can be at most {limit // MiB} MiB")
            conn.execute(table.insert().values(upload_id=upload_id, part=part,
                                               workspace=ctx.workspace, content=content,
                                               created_at=now))
        return {"upload_id": upload_id, "part": part, "size": len(content)}
