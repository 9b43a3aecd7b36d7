"""File sizes the contacts service enforces, which its callers check first (413 before
any RPC). One source of truth for both sides."""

MiB = 1024 * 1024
MAX_PHOTO_BYTES = 2 * MiB
MAX_FILE_BYTES = 20 * MiB
DEFAULT_IMPORT_MAX_BYTES = 50 * MiB  # config IMPORT_MAX_BYTES
PART_BYTES = 4 * MiB  # what the gateway sends: 5.3 MiB of base64, well under any broker limit
MAX_PART_BYTES = 8 * MiB
MAX_UPLOAD_BYTES = 64 * MiB  # or IMPORT_MAX_BYTES if larger (imports default to 50 MiB)


def import_max_bytes(config):
    """The largest import file (config ``IMPORT_MAX_BYTES``)."""
    return int(config.get("IMPORT_MAX_BYTES") or DEFAULT_IMPORT_MAX_BYTES)


def part_bytes(config):
    """The size of the parts files travel in (config ``UPLOAD_PART_BYTES``, at most
    ``MAX_PART_BYTES``)."""
    return min(int(config.get("UPLOAD_PART_BYTES") or PART_BYTES), MAX_PART_BYTES)
