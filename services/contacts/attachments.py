"""A client's photo and attachments over RPC (see docs/rpc-contacts.md and files.py)."""
import base64
import uuid

from services.common.context import CommandContext
from services.common.errors import NotFound
from services.common.rpc import rpc

from . import files as file_rules
from . import queries
from .client.limits import PART_BYTES
from .privacy import missing_client
from .uploads import check_range, decode_base64, read_content, take_upload
from .writes import ClientWrites, canonical_uuid


class ClientFilesRpc(ClientWrites):
    """Mixin of ``ContactsService``: the photo and attachments. Uses the service's
    ``store`` and ``storage`` dependencies."""

    # -- photo -----------------------------------------------------------------------------

    @rpc
    def set_photo(self, ctx, client_id, data):
        """Replace the client's photo (``data``: base64 of a PNG, JPEG or WebP image,
        at most 2 MiB): 415 / 413 otherwise."""
        ctx = CommandContext.load(ctx)
        content = decode_base64(data)
        content_type = file_rules.photo_type(content)
        target = self.storage.photo_path(canonical_uuid(client_id) or str(uuid.UUID(int=0)))
        staged = None

        def command(uow):
            nonlocal staged
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            client.change_photo(content_type, len(content))
            if staged is None:
                staged = self.storage.stage(content, target)
            self._save(uow, client)
            self.storage.commit(staged, target)  # last step before the commit
            staged = None
            return self._answer(conn, ctx, client)

        try:
            return self._write(ctx, "set_photo", command)
        finally:
            if staged is not None:
                self.storage.discard(staged)

    @rpc
    def get_photo(self, ctx, client_id):
        """``{"content_type", "size", "data" (base64), "version"}``; 404 without photo."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            record = queries.get_client(conn, ctx.workspace, str(client_id))
            if record is None:
                raise missing_client(conn, ctx.workspace, client_id)
        if not record.get("photo"):
            raise NotFound("this client has no photo")
        content = self.storage.read(self.storage.photo_path(record["id"]))
        if content is None:
            raise NotFound("this client's photo is missing from the file storage")
        return {"content_type": file_rules.sniff_image(content) or
                record["photo"]["content_type"], "size": len(content),
                "data": base64.b64encode(content).decode("ascii"),
                "version": record["version"]}

    @rpc
    def remove_photo(self, ctx, client_id):
        """Remove the client's photo; 404 if it has none."""
        ctx = CommandContext.load(ctx)

        def command(uow):
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            client.remove_photo()
            self._save(uow, client)
            return self._answer(conn, ctx, client)

        result = self._write(ctx, "remove_photo", command)
        self.storage.discard(self.storage.photo_path(result["client"]["id"]))
        return result

    # -- attachments -----------------------------------------------------------------------

    @rpc
    def attach_file(self, ctx, client_id, name, data):
        """Attach a file (``data``: base64, or an upload sent in parts, see uploads.py; at
        most 20 MiB; its type checked by content):
        ``{"file": {id, name, size, content_type, uploaded_at}, "client", "position"}``."""
        ctx = CommandContext.load(ctx)
        answered = self.store.recorded(ctx, "attach_file")
        if answered is not None:  # a repeat: the upload's parts were taken by the first run
            return answered
        content = read_content(self.store.db, ctx.workspace, data, file_rules.MAX_FILE_BYTES)
        name = file_rules.clean_file_name(name)
        content_type = file_rules.attachment_type(name, content)
        file_id = ctx.new_id("file")
        target = self.storage.file_path(canonical_uuid(client_id) or str(uuid.UUID(int=0)),
                                        file_id)
        staged = None

        def command(uow):
            nonlocal staged
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            client.attach_file(file_id, name, len(content), content_type)
            take_upload(conn, ctx.workspace, data)
            if staged is None:
                staged = self.storage.stage(content, target)
            self._save(uow, client)
            self.storage.commit(staged, target)
            staged = None
            answer = self._answer(conn, ctx, client)
            answer["file"] = queries.get_file(conn, ctx.workspace, client.id, file_id)
            return answer

        try:
            return self._write(ctx, "attach_file", command)
        finally:
            if staged is not None:
                self.storage.discard(staged)

    @rpc
    def list_files(self, ctx, client_id):
        """``{"items": [{id, name, size, content_type, uploaded_at}]}``, oldest first."""
        ctx = CommandContext.load(ctx)
        with self.store.db.read() as conn:
            if queries.get_client(conn, ctx.workspace, str(client_id)) is None:
                raise missing_client(conn, ctx.workspace, client_id)
            return {"items": queries.list_files(conn, ctx.workspace, str(client_id))}

    @rpc
    def get_file(self, ctx, client_id, file_id):
        """The file's metadata plus ``data`` (base64); a file of more than a few MiB
        does not fit in one message on every broker: read it with ``read_file``."""
        ctx = CommandContext.load(ctx)
        meta = self._file_meta(ctx, client_id, file_id)
        content = self.storage.read(self.storage.file_path(client_id, meta["id"]))
        if content is None:
            raise NotFound("this file is missing from the file storage")
        return {**meta, "data": base64.b64encode(content).decode("ascii")}

    @rpc
    def read_file(self, ctx, client_id, file_id, offset=0, length=PART_BYTES):
        """The attachment's metadata plus ``data``: base64 of at most ``length`` bytes
        from ``offset`` (at most ``MAX_PART_BYTES``); read on until ``offset + length``
        reaches ``size``."""
        ctx = CommandContext.load(ctx)
        check_range(offset, length)
        meta = self._file_meta(ctx, client_id, file_id)
        content = self.storage.read_range(self.storage.file_path(client_id, meta["id"]),
                                          offset, length)
        if content is None:
            raise NotFound("this file is missing from the file storage")
        return {**meta, "offset": offset, "data": base64.b64encode(content).decode("ascii")}

    def _file_meta(self, ctx, client_id, file_id):
        with self.store.db.read() as conn:
            if queries.get_client(conn, ctx.workspace, str(client_id)) is None:
                raise missing_client(conn, ctx.workspace, client_id)
            meta = queries.get_file(conn, ctx.workspace, str(client_id), str(file_id))
        if meta is None:
            raise NotFound("no such file")
        return meta

    @rpc
    def remove_file(self, ctx, client_id, file_id):
        """Remove an attachment: ``{"client", "position"}``; 404 if unknown."""
        ctx = CommandContext.load(ctx)
        file_key = canonical_uuid(file_id)
        if file_key is None:
            raise NotFound("no such file")

        def command(uow):
            conn = uow.conn
            client = self._load(uow, ctx, client_id)
            client.remove_file(file_key)
            self._save(uow, client)
            return self._answer(conn, ctx, client)

        result = self._write(ctx, "remove_file", command)
        self.storage.discard(self.storage.file_path(result["client"]["id"], file_key))
        return result
