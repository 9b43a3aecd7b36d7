"""Client photos and attachments: content checks and the storage the service owns.

Bytes live in a directory (config ``FILES_DIR``, default ``<DATA_DIR>/files/contacts``),
one folder per client; events carry only metadata (``ClientPhotoChanged``,
``ClientFileAttached``, ``ClientFileRemoved``). Blob names are the ids the service
makes (client and file uuids), never a name a user typed.

Types are decided by content (magic bytes), never by the name alone:
- a photo must be PNG, JPEG or WebP, at most 2 MiB;
- an attachment (at most 20 MiB) must be one of the document types in ``FAMILIES``
  (PDF, images, Office/OpenDocument files, ZIP, plain text formats), and its name's
  extension, when it has one, must agree with its content (a ``.png`` holding text
  is refused). Anything else is refused with 415.
"""
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from pathlib import Path

from nameko.extensions import DependencyProvider

from services.common.errors import PayloadTooLarge, UnsupportedMediaType

from .client.limits import MAX_FILE_BYTES, MAX_PHOTO_BYTES, MiB  # noqa: F401 (MiB: API)

MAX_NAME = 255

PHOTO_TYPES = ("image/png", "image/jpeg", "image/webp")


# -- content sniffing ----------------------------------------------------------------------

def sniff_image(data):
    """``image/png``, ``image/jpeg``, ``image/webp``, ``image/gif`` or ``None``."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def _family(data):
    """The family of a file's content: an image type, ``pdf``, ``zip``, ``ole``, ``text``."""
    image = sniff_image(data)
    if image:
        return image
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    if _is_text(data):
        return "text"
    return None


def _is_text(data):
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return False
    controls = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\n\r\f")
    return controls == 0


# extension -> (family its content must have, content type stored)
EXTENSIONS = {
    "png": ("image/png", "image/png"),
    "jpg": ("image/jpeg", "image/jpeg"),
    "jpeg": ("image/jpeg", "image/jpeg"),
    "webp": ("image/webp", "image/webp"),
    "gif": ("image/gif", "image/gif"),
    "pdf": ("pdf", "application/pdf"),
    "zip": ("zip", "application/zip"),
    "docx": ("zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": ("zip", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "pptx": ("zip", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
    "odt": ("zip", "application/vnd.oasis.opendocument.text"),
    "ods": ("zip", "application/vnd.oasis.opendocument.spreadsheet"),
    "odp": ("zip", "application/vnd.oasis.opendocument.presentation"),
    "doc": ("ole", "application/msword"),
    "xls": ("ole", "application/vnd.ms-excel"),
    "ppt": ("ole", "application/vnd.ms-powerpoint"),
    "msg": ("ole", "application/vnd.ms-outlook"),
    "txt": ("text", "text/plain"),
    "csv": ("text", "text/csv"),
    "tsv": ("text", "text/tab-separated-values"),
    "md": ("text", "text/markdown"),
    "json": ("text", "application/json"),
    "xml": ("text", "application/xml"),
    "vcf": ("text", "text/vcard"),
    "ics": ("text", "text/calendar"),
    "eml": ("text", "message/rfc822"),
}

# The content type of a file without extension, by family.
FAMILIES = {
    "image/png": "image/png", "image/jpeg": "image/jpeg", "image/webp": "image/webp",
    "image/gif": "image/gif", "pdf": "application/pdf", "zip": "application/zip",
    "ole": "application/x-ole-storage", "text": "text/plain",
}

_FAMILY_NAMES = {"pdf": "a PDF document", "zip": "a ZIP-based file", "ole": "an old Office file",
                 "text": "plain text", "image/png": "a PNG image", "image/jpeg": "a JPEG image",
                 "image/webp": "a WebP image", "image/gif": "a GIF image"}


def photo_type(data):
    """The content type of a photo, or 415 / 413."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PayloadTooLarge(f"a photo can be at most {MAX_PHOTO_BYTES // MiB} MiB")
    kind = sniff_image(data)
    if kind not in PHOTO_TYPES:
        raise UnsupportedMediaType("a photo must be a PNG, JPEG or WebP image",
                                   extra={"accepted": list(PHOTO_TYPES)})
    return kind


def attachment_type(name, data):
    """The content type of an attachment, checked against its content, or 415 / 413."""
    if len(data) > MAX_FILE_BYTES:
        raise PayloadTooLarge(f"a file can be at most {MAX_FILE_BYTES // MiB} MiB")
    family = _family(data)
    extension = name.rsplit(".", 1)[1].lower() if "." in name.strip(".") else None
    if extension is not None and extension in EXTENSIONS:
        expected, content_type = EXTENSIONS[extension]
        if family != expected:
            what = _FAMILY_NAMES.get(family, "a file of an unknown type")
            raise UnsupportedMediaType(
                f"the name says .{extension} but the content is {what}")
        return content_type
    if extension is not None:
        raise UnsupportedMediaType(
            f".{extension} files are not accepted; accepted: "
            + ", ".join(sorted(EXTENSIONS)), extra={"accepted": sorted(EXTENSIONS)})
    if family is None:
        raise UnsupportedMediaType("this kind of file is not accepted",
                                   extra={"accepted": sorted(EXTENSIONS)})
    return FAMILIES[family]


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f]")


def clean_file_name(name):
    """The name a file is listed and downloaded under: no folders, no control
    characters, NFC, at most 255 characters (keeping the extension)."""
    name = unicodedata.normalize("NFC", str(name or ""))
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_NAME.sub("", name).strip().strip(".").strip() or "file"
    if len(name) > MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        if dot and len(extension) <= 10:
            name = stem[:MAX_NAME - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_NAME]
    return name


# -- storage -------------------------------------------------------------------------------

def _checked_id(value):
    """A uuid as text (blob paths are made of ids only)."""
    return str(uuid.UUID(str(value)))


class FileStorage:
    """Blobs in a directory: ``<root>/<client id>/photo`` and ``.../files/<file id>``.

    Writes go to a temporary file then ``os.replace`` (atomic): a reader never sees
    half a file.
    """

    def __init__(self, root):
        self.root = Path(root)

    def _client_dir(self, client_id):
        return self.root / _checked_id(client_id)

    def photo_path(self, client_id):
        return self._client_dir(client_id) / "photo"

    def file_path(self, client_id, file_id):
        return self._client_dir(client_id) / "files" / _checked_id(file_id)

    def stage(self, data, near):
        """Write ``data`` to a temporary file beside ``near``; returns its path."""
        near.parent.mkdir(parents=True, exist_ok=True)
        handle, path = tempfile.mkstemp(dir=near.parent, prefix=".upload-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            Path(path).unlink(missing_ok=True)
            raise
        return Path(path)

    def remove_client(self, client_id):
        """Delete every file of a client (its photo and attachments): an erasure."""
        shutil.rmtree(self._client_dir(client_id), ignore_errors=True)

    @staticmethod
    def commit(staged, target):
        os.replace(staged, target)

    @staticmethod
    def discard(path):
        try:
            Path(path).unlink(missing_ok=True)
        except OSError:
            pass

    @staticmethod
    def read_range(path, offset, length):
        """At most ``length`` bytes from ``offset``; ``None`` if the file is missing."""
        try:
            with open(path, "rb") as source:
                source.seek(offset)
                return source.read(length)
        except FileNotFoundError:
            return None

    @staticmethod
    def read(path):
        try:
            return Path(path).read_bytes()
        except FileNotFoundError:
            return None


def files_dir(config):
    configured = config.get("FILES_DIR")
    if configured:
        return Path(configured)
    return Path(config.get("DATA_DIR") or "./var") / "files" / "contacts"


class FileStorageProvider(DependencyProvider):
    """Injects the service's ``FileStorage`` (folders are made on first write)."""

    def setup(self):
        self.storage = FileStorage(files_dir(self.container.config))

    def get_dependency(self, worker_ctx):
        return self.storage
