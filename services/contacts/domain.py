"""The Client and Merge aggregates and their events. Pure: no I/O.

A client's stream (stream id = the client's id) holds ``ClientRegistered``,
``ClientUpdated``, ``ClientArchived``, ``ClientRestored``, ``ClientPhotoChanged``,
``ClientFileAttached``, ``ClientFileRemoved`` and, last, ``ClientErased``. A merge has its own stream
(``merge-<merge_id>``) holding ``ClientsMerged`` and, once undone,
``ClientsUnmerged``. Event data follows docs/events.md exactly.
"""
from services.common.aggregate import Aggregate, applies
from services.common.errors import Conflict, Gone, NotFound, ValidationFailed

from .schemas import WRITABLE

CLIENT_REGISTERED = "ClientRegistered"
CLIENT_UPDATED = "ClientUpdated"
CLIENT_ARCHIVED = "ClientArchived"
CLIENT_RESTORED = "ClientRestored"
CLIENT_PHOTO_CHANGED = "ClientPhotoChanged"
CLIENT_FILE_ATTACHED = "ClientFileAttached"
CLIENT_FILE_REMOVED = "ClientFileRemoved"
CLIENT_ERASED = "ClientErased"
CLIENTS_MERGED = "ClientsMerged"
CLIENTS_UNMERGED = "ClientsUnmerged"

# Events that change what a client's record, keys or tags are made of.
RECORD_EVENTS = frozenset({CLIENT_REGISTERED, CLIENT_UPDATED, CLIENT_ARCHIVED, CLIENT_RESTORED,
                           CLIENT_ERASED})

FIELDS = tuple(WRITABLE)  # every writable field of a client, in contract order


def merge_stream_id(merge_id):
    return f"merge-{merge_id}"


class Client(Aggregate):
    """A client of a workspace (a company or a person)."""

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.workspace = None
        self.fields = {}
        self.archived = False
        self.merged_into = None  # the survivor, while archived by a merge
        self.merge_id = None  # the merge that archived it
        self.created_at = None
        self.photo = None  # {"content_type", "size"} or None
        self.files = set()  # ids of the attached files
        self.erased = False  # its personal data was erased: gone for good

    # -- queries -------------------------------------------------------------------

    def ensure_in(self, workspace):
        """Raise ``NotFound`` unless the client exists in ``workspace``."""
        if not self.exists or self.workspace != workspace:
            raise NotFound("no such client")
        if self.erased:
            raise gone()

    def ensure_active(self):
        if self.archived:
            if self.merged_into:
                raise Conflict(f"this client was merged into {self.merged_into}; it can be "
                               "read but not changed", extra={"merged_into": self.merged_into})
            raise Conflict("this client is archived; restore it before changing it")

    def state(self):
        """The client's writable fields as a dict (a copy)."""
        return {name: _copy(self.fields.get(name)) for name in FIELDS}

    # -- commands ----------------------------------------------------------------

    def register(self, workspace, fields, created_at):
        if self.exists:
            raise Conflict("this client already exists")
        data = {"client_id": self.id, "workspace": workspace, "created_at": created_at}
        for name in FIELDS:
            data[name] = _copy(fields.get(name))
        if data["kind"] is None:
            data["kind"] = "company"
        if data["tags"] is None:
            data["tags"] = []
        self._record(CLIENT_REGISTERED, data)

    def update(self, values):
        """Change the given fields; records nothing (returns False) when nothing differs."""
        self.ensure_active()
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise ValueError(f"not client fields: {sorted(unknown)}")
        changes = {name: _copy(value) for name, value in values.items()
                   if _normal(value, name) != _normal(self.fields.get(name), name)}
        if not changes:
            return False
        previous = {name: _copy(self.fields.get(name)) for name in changes}
        self._record(CLIENT_UPDATED, {"client_id": self.id, "changes": changes,
                                      "previous": previous})
        return True

    def archive(self, merged_into=None, merge_id=None):
        if self.archived:
            raise Conflict("this client is already archived")
        self._record(CLIENT_ARCHIVED, {"client_id": self.id, "merged_into": merged_into,
                                       "merge_id": merge_id})

    def restore(self, merge_id=None):
        if not self.archived:
            raise Conflict("this client is not archived")
        if merge_id is None and self.merged_into:
            raise Conflict(f"this client was merged into {self.merged_into}: undo that merge "
                           "(unmerge) to bring it back", extra={"merged_into": self.merged_into,
                                                                "merge_id": self.merge_id})
        if merge_id is not None and merge_id != self.merge_id:
            raise Conflict("this client was not archived by that merge")
        self._record(CLIENT_RESTORED, {"client_id": self.id, "merge_id": merge_id})

    def erase(self, merged=False):
        """Record that the client's personal data is erased (the data itself is made
        unreadable by the service: its key is destroyed). No personal data in it.
        ``merged``: erased with the client it is merged into (the same person)."""
        self.ensure_erasable(merged)
        self._record(CLIENT_ERASED, {"client_id": self.id, "workspace": self.workspace})

    def ensure_erasable(self, merged=False):
        """410 if erased already; 409 while merged into another client (unless erased
        with it)."""
        if self.erased:
            raise gone()
        if self.archived and self.merged_into and not merged:
            raise Conflict(f"this client was merged into {self.merged_into}; erase that client "
                           "(which erases the clients merged into it) or undo the merge first",
                           extra={"merged_into": self.merged_into}, code="client_merged")

    def change_photo(self, content_type, size):
        self.ensure_active()
        self._record(CLIENT_PHOTO_CHANGED, {"client_id": self.id, "content_type": content_type,
                                            "size": size})

    def remove_photo(self):
        self.ensure_active()
        if self.photo is None:
            raise NotFound("this client has no photo")
        self._record(CLIENT_PHOTO_CHANGED, {"client_id": self.id, "content_type": None,
                                            "size": None})

    def attach_file(self, file_id, name, size, content_type):
        self.ensure_active()
        if file_id in self.files:
            raise Conflict("this file is already attached")
        self._record(CLIENT_FILE_ATTACHED, {"client_id": self.id, "file_id": file_id,
                                            "name": name, "size": size,
                                            "content_type": content_type})

    def remove_file(self, file_id):
        if file_id not in self.files:
            raise NotFound("no such file")
        self.ensure_active()
        self._record(CLIENT_FILE_REMOVED, {"client_id": self.id, "file_id": file_id})

    # -- state changes -------------------------------------------------------------

    @applies(CLIENT_REGISTERED)
    def apply_client_registered(self, data):
        self.workspace = data["workspace"]
        self.created_at = data["created_at"]
        self.fields = {name: _copy(data.get(name)) for name in FIELDS}

    @applies(CLIENT_UPDATED)
    def apply_client_updated(self, data):
        for name, value in data["changes"].items():
            self.fields[name] = _copy(value)

    @applies(CLIENT_ARCHIVED)
    def apply_client_archived(self, data):
        self.archived = True
        self.merged_into = data.get("merged_into")
        self.merge_id = data.get("merge_id")

    @applies(CLIENT_RESTORED)
    def apply_client_restored(self, data):
        self.archived = False
        self.merged_into = None
        self.merge_id = None

    @applies(CLIENT_ERASED)
    def apply_client_erased(self, data):
        self.erased = True
        self.archived = True
        self.merged_into = None
        self.merge_id = None
        self.fields = {}
        self.photo = None
        self.files = set()

    @applies(CLIENT_PHOTO_CHANGED)
    def apply_client_photo_changed(self, data):
        if data.get("content_type") is None:
            self.photo = None
        else:
            self.photo = {"content_type": data["content_type"], "size": data["size"]}

    @applies(CLIENT_FILE_ATTACHED)
    def apply_client_file_attached(self, data):
        self.files.add(data["file_id"])

    @applies(CLIENT_FILE_REMOVED)
    def apply_client_file_removed(self, data):
        self.files.discard(data["file_id"])


class Merge(Aggregate):
    """One merge of duplicates into a survivor, and its undoing."""

    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.merge_id = None
        self.survivor_id = None
        self.merged_ids = []
        self.fields = {}
        self.unmerged = False

    def merge(self, merge_id, survivor_id, merged_ids, fields):
        if self.exists:
            raise Conflict("this merge already happened")
        self._record(CLIENTS_MERGED, {"survivor_id": survivor_id, "merged_ids": list(merged_ids),
                                      "merge_id": merge_id, "fields": dict(fields)})

    def unmerge(self):
        if not self.exists:
            raise NotFound("no such merge")
        if self.unmerged:
            raise Conflict("this merge was already undone")
        self._record(CLIENTS_UNMERGED, {"survivor_id": self.survivor_id,
                                        "merged_ids": list(self.merged_ids),
                                        "merge_id": self.merge_id})

    @applies(CLIENTS_MERGED)
    def apply_clients_merged(self, data):
        self.merge_id = data["merge_id"]
        self.survivor_id = data["survivor_id"]
        self.merged_ids = list(data["merged_ids"])
        self.fields = dict(data.get("fields") or {})

    @applies(CLIENTS_UNMERGED)
    def apply_clients_unmerged(self, data):
        self.unmerged = True


def gone():
    return Gone("this client was erased at the request of the person it described",
                code="client_erased")


# -- merging -------------------------------------------------------------------------------

MAX_MERGE_DUPLICATES = 50


def plan_merge(survivor, duplicates, choices):
    """What a merge changes on the survivor: ``{field: new value}``.

    ``choices`` maps a field to the id of the client whose value wins (the survivor or
    one of the duplicates); fields not named keep the survivor's value. Checks the
    merge can happen (every client active, none twice, not the survivor itself);
    raises ``ValidationFailed`` (422) for bad input, ``Conflict`` (409) for a client
    that cannot be merged.
    """
    errors = {}
    if not isinstance(choices, dict):
        raise ValidationFailed("some fields are invalid",
                               {"fields": ["must be an object: field -> id of the client "
                                           "whose value wins"]})
    ids = [d.id for d in duplicates]
    if not ids:
        errors["duplicate_ids"] = ["name at least one duplicate"]
    elif len(ids) > MAX_MERGE_DUPLICATES:
        errors["duplicate_ids"] = [f"at most {MAX_MERGE_DUPLICATES} duplicates at once"]
    elif survivor.id in ids:
        errors["duplicate_ids"] = ["a client cannot be merged into itself"]
    elif len(set(ids)) != len(ids):
        errors["duplicate_ids"] = ["each duplicate must be named once"]
    by_id = {survivor.id: survivor, **{d.id: d for d in duplicates}}
    for field, source in choices.items():
        if field not in FIELDS:
            errors[f"fields.{field}"] = ["not a client field"]
        elif not isinstance(source, str) or source not in by_id:
            errors[f"fields.{field}"] = ["must be the id of the client or of one of the "
                                         "duplicates"]
    if errors:
        raise ValidationFailed("some fields are invalid", errors)
    if survivor.archived:
        survivor.ensure_active()
    for duplicate in duplicates:
        if duplicate.archived:
            if duplicate.merged_into:
                raise Conflict(f"client {duplicate.id} was already merged into "
                               f"{duplicate.merged_into}",
                               extra={"client_id": duplicate.id,
                                      "merged_into": duplicate.merged_into})
            raise Conflict(f"client {duplicate.id} is archived; restore it first",
                           extra={"client_id": duplicate.id})
    changes = {}
    for field in FIELDS:
        source = choices.get(field)
        if source is None or source == survivor.id:
            continue
        value = by_id[source].fields.get(field)
        if _normal(value, field) != _normal(survivor.fields.get(field), field):
            changes[field] = _copy(value)
    return changes


def unmerge_reverts(survivor, changes, previous):
    """The survivor fields an unmerge puts back: those the merge set and nobody changed
    since (a later edit wins over the undo)."""
    return {field: _copy(previous.get(field)) for field, value in changes.items()
            if _normal(survivor.fields.get(field), field) == _normal(value, field)}


# -- helpers -------------------------------------------------------------------------------

def _copy(value):
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _normal(value, field):
    """Comparable form: ``None`` and an empty tag list are the same for ``tags``."""
    if field == "tags":
        return list(value or [])
    return value
