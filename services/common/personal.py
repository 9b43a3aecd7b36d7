"""Personal data in events, encrypted with a key per person (crypto-shredding).

An event store is append-only: history is never rewritten, so a person's data cannot
be deleted from it. Instead the personal fields of each event are stored encrypted
(AES-GCM, 256-bit) with a key of the person they are about, kept in the service's
``personal_keys`` table, never in an event or a message. Erasing the person destroys
the key: every copy of those fields (the store, its backups' later replays, the
broker's messages, other services' logs) becomes unreadable at once, while the events
themselves, their order and their non-personal fields stay as they were.

The service declares which fields are personal (``PersonalFields`` per event type:
the data key that names the person, the personal keys, and the nested objects in
which the same keys are personal too); this module knows no domain. Sealed, an
event's ``data`` lacks those fields and carries instead::

    "personal": {"subject": "<the person's id>", "sealed": "<base64 nonce+ciphertext>"}

- ``seal``: on append, the personal fields are moved into the sealed part (a person
  without a key gets one; a person already erased gets nothing stored);
- ``open``: on reading back, the sealed part is decrypted and the fields put back in
  place; a destroyed key leaves them out, as if they had never been given;
- ``erase``: destroys a person's key (the row stays, keyless, so that nothing is ever
  encrypted for that person again) after sealing in place what was stored before
  this mechanism existed (``seal_rows``: events written in plain text by an earlier
  release are re-encoded, never re-ordered or re-numbered).
"""
import base64
import json
import os
from dataclasses import dataclass

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Column, LargeBinary, MetaData, String, Table

from .db import driver_rows, execute_values
from .envelope import format_time, utc_now

SEALED = "personal"  # the key of the sealed part in an event's data
_KEYS_FOR_WRITING = (
    "WITH wanted (subject, workspace, key, created_at) AS (VALUES %s), "
    "created AS (INSERT INTO personal_keys (subject, workspace, key, created_at) "
    "SELECT subject, workspace, key, created_at FROM wanted "
    "ON CONFLICT (subject) DO NOTHING RETURNING subject, key) "
    "SELECT subject, key FROM created UNION ALL "
    "SELECT p.subject, p.key FROM personal_keys p JOIN wanted w ON p.subject = w.subject")
NONCE_BYTES = 12
KEY_BYTES = 32  # AES-256

metadata = MetaData()

#: One key per person; ``key`` is NULL once the person is erased.
personal_keys_table = Table(
    "personal_keys",
    metadata,
    Column("subject", String(200), primary_key=True),
    Column("workspace", String(100), nullable=False),
    Column("key", LargeBinary),
    Column("created_at", String(32), nullable=False),
    Column("erased_at", String(32)),
)


def create_personal_keys_table(bind):
    """Create the key table (migration helper)."""
    metadata.create_all(bind, tables=[personal_keys_table])


@dataclass(frozen=True)
class PersonalFields:
    """Which fields of one event type are personal, and whose."""

    subject: str  # the data key whose value names the person (their id)
    fields: tuple  # personal keys of the data
    within: tuple = ()  # keys of nested objects whose own keys in ``fields`` are personal


class PersonalData:
    """Seals and opens the personal fields of a service's events (see the module doc)."""

    def __init__(self, rules):
        self.rules = dict(rules)

    # -- keys --------------------------------------------------------------------------

    @staticmethod
    def keys(conn, subjects):
        """``{subject: key or None (erased)}`` for those of ``subjects`` that have a row."""
        subjects = sorted(set(subjects))
        found = {}
        if not subjects:
            return found
        if conn.dialect.name == "postgresql":
            for subject, key in driver_rows(
                    conn, "SELECT subject, key FROM personal_keys WHERE subject = ANY(%s)",
                    (subjects,)):
                found[subject] = bytes(key) if key is not None else None
            return found
        # The driver's own statement: SQLAlchemy's building of an IN query cost more
        # than the lookup itself, once per command.
        for start in range(0, len(subjects), 500):
            chunk = subjects[start:start + 500]
            for subject, key in conn.exec_driver_sql(
                    "SELECT subject, key FROM personal_keys WHERE subject IN "
                    f"({', '.join('?' * len(chunk))})", tuple(chunk)):
                found[subject] = key
        return found

    def _keys_for_writing(self, conn, wanted):
        """``{subject: key or None}`` for ``wanted`` ({subject: workspace}), creating the
        keys of people seen for the first time (a concurrent creator of the same key
        wins; its key is used)."""
        now = format_time(utc_now())
        if conn.dialect.name == "postgresql":
            # One round trip: new keys inserted, existing ones (inserted before this
            # statement began) read, in the same statement.
            material = _random_blocks(len(wanted), KEY_BYTES)
            rows = [(subject, workspace, next(material), now)
                    for subject, workspace in sorted(wanted.items())]
            found = {subject: bytes(key) if key is not None else None
                     for subject, key in execute_values(
                         conn, _KEYS_FOR_WRITING, rows, page_size=max(1, len(rows)),
                         fetch=True)}
            late = [subject for subject in wanted if subject not in found]
            if late:  # created by a concurrent writer that committed meanwhile
                found.update(self.keys(conn, late))
            return found
        found = self.keys(conn, wanted)
        absent = [subject for subject in wanted if subject not in found]
        material = _random_blocks(len(absent), KEY_BYTES)
        missing = [(subject, wanted[subject], next(material), now) for subject in absent]
        if missing:
            # SQLite: this transaction holds the database's write lock (BEGIN IMMEDIATE),
            # so no other writer can have made these keys since they were looked up.
            conn.exec_driver_sql(
                "INSERT INTO personal_keys (subject, workspace, key, created_at) "
                "VALUES (?, ?, ?, ?)", missing)
            found.update((subject, key) for subject, _, key, _ in missing)
        return found

    @staticmethod
    def erase(conn, subjects, workspace):
        """Destroy the keys of ``subjects`` (recorded as erased even if they never had
        one): what was sealed for them can no longer be read, and nothing is sealed for
        them again."""
        subjects = sorted(set(subjects))
        now = format_time(utc_now())
        rows = [(subject, workspace, None, now, now) for subject in subjects]
        if not rows:
            return
        if conn.dialect.name == "postgresql":
            execute_values(conn, "INSERT INTO personal_keys (subject, workspace, key, "
                           "created_at, erased_at) VALUES %s ON CONFLICT (subject) DO UPDATE "
                           "SET key = NULL, erased_at = COALESCE(personal_keys.erased_at, "
                           "excluded.erased_at)", rows, page_size=len(rows))
        else:
            conn.exec_driver_sql(
                "INSERT INTO personal_keys (subject, workspace, key, created_at, erased_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (subject) DO UPDATE SET key = NULL, "
                "erased_at = COALESCE(personal_keys.erased_at, excluded.erased_at)", rows)

    # -- sealing -----------------------------------------------------------------------

    def subject_of(self, event_type, data):
        """The person an event's personal fields are about (None: it has none)."""
        rule = self.rules.get(event_type)
        if rule is None:
            return None
        subject = data.get(rule.subject)
        return subject if isinstance(subject, str) and subject else None

    def split(self, event_type, data):
        """``(data without its personal fields, the personal fields)``; the second is
        empty when the event has none (or is sealed already)."""
        rule = self.rules.get(event_type)
        if rule is None or SEALED in data:
            return data, {}
        public, personal = dict(data), {}
        for name in rule.fields:
            if name in public:
                personal[name] = public.pop(name)
        for outer in rule.within:
            inner = public.get(outer)
            if isinstance(inner, dict):
                kept = dict(inner)
                taken = {name: kept.pop(name) for name in rule.fields if name in kept}
                if taken:
                    public[outer] = kept
                    personal[outer] = taken
        return public, personal

    def seal_all(self, conn, items):
        """The stored form of each ``(event_type, workspace, data)``: data with its
        personal fields sealed (plain data when it has none). One key lookup for all."""
        wanted = {}
        for event_type, workspace, data in items:
            subject = self.subject_of(event_type, data)
            if subject is not None:
                wanted.setdefault(subject, workspace)
        keys = self._keys_for_writing(conn, wanted) if wanted else {}
        ciphers = {}
        sealed = []
        nonces = _random_blocks(len(items), NONCE_BYTES)
        for event_type, workspace, data in items:
            subject = self.subject_of(event_type, data)
            if subject is None:
                sealed.append(data)
                continue
            public, personal = self.split(event_type, data)
            if not personal:
                sealed.append(public)
                continue
            key = keys.get(subject)
            if key is None:  # erased: the personal fields are not kept at all
                sealed.append(public)
                continue
            cipher = ciphers.get(subject)
            if cipher is None:
                cipher = ciphers[subject] = AESGCM(key)
            nonce = next(nonces)
            text = cipher.encrypt(nonce, orjson.dumps(personal), subject.encode())
            public[SEALED] = {"subject": subject,
                              "sealed": base64.b64encode(nonce + text).decode("ascii")}
            sealed.append(public)
        return sealed

    # -- opening -----------------------------------------------------------------------

    @staticmethod
    def is_sealed(data):
        part = data.get(SEALED)
        return isinstance(part, dict) and "sealed" in part

    def missing(self, datas, known):
        """The subjects of sealed ``datas`` whose key is not in ``known``."""
        return {data[SEALED].get("subject") for data in datas
                if self.is_sealed(data) and data[SEALED].get("subject") not in known}

    def open_all(self, conn, datas, known=None):
        """Each data with its sealed part opened (one key lookup for all those not in
        ``known``, {subject: key}); data whose key is destroyed comes back without its
        personal fields."""
        keys = dict(known or {})
        wanted = [s for s in self.missing(datas, keys) if isinstance(s, str)]
        if wanted:
            keys.update(self.keys(conn, wanted))
        ciphers = {}
        return [open_with(data, keys, ciphers) for data in datas]


def _random_blocks(count, size):
    """``count`` random byte strings of ``size``, from one read of the system's random
    source (one read per key and nonce cost more than the encryption)."""
    material = os.urandom(count * size)
    return (material[start:start + size] for start in range(0, count * size, size))


def open_with(data, keys, ciphers=None):
    """``data`` with its sealed part opened with ``keys`` ({subject: key or None})."""
    part = data.get(SEALED)
    if not isinstance(part, dict) or "sealed" not in part:
        return data
    opened = {name: value for name, value in data.items() if name != SEALED}
    subject = part.get("subject")
    key = keys.get(subject)
    if key is None:
        return opened
    try:
        cipher = ciphers.get(subject) if ciphers is not None else None
        if cipher is None:
            cipher = AESGCM(key)
            if ciphers is not None:
                ciphers[subject] = cipher
        raw = base64.b64decode(part["sealed"])
        personal = orjson.loads(cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:],
                                               subject.encode()))
    except (InvalidTag, ValueError, TypeError):
        return opened
    for name, value in personal.items():
        if isinstance(value, dict) and isinstance(opened.get(name), dict):
            opened[name] = {**opened[name], **value}
        else:
            opened[name] = value
    return opened


def seal_rows(conn, personal, rows):
    """Seal in place the plain-text personal fields of stored events ``rows`` (with
    ``position``, ``type``, ``workspace``, ``data`` as text): the migration of events
    written before their fields were declared personal. Only ``data`` changes.
    Returns how many rows were re-encoded."""
    todo = []
    for row in rows:
        data = json.loads(row.data)
        if SEALED in data or personal.subject_of(row.type, data) is None:
            continue
        if not personal.split(row.type, data)[1]:
            continue
        todo.append((row, data))
    if not todo:
        return 0
    sealed = personal.seal_all(conn, [(row.type, row.workspace, data) for row, data in todo])
    for (row, _), data in zip(todo, sealed):
        conn.exec_driver_sql(
            "UPDATE events SET data = %s WHERE position = %s"
            if conn.dialect.name == "postgresql" else
            "UPDATE events SET data = ? WHERE position = ?",
            (orjson.dumps(data).decode(), row.position))
    return len(todo)


def reveal(source_rpc, events):
    """``events`` of a source with their sealed personal fields opened by the source
    (its ``reveal_events`` RPC, one call for the batch); an event the source no longer
    holds a key for comes back without them. Events without a sealed part are kept."""
    wanted = [event.position for event in events if PersonalData.is_sealed(event.data)]
    if not wanted:
        return events
    opened = source_rpc.reveal_events(wanted)
    for event in events:
        if PersonalData.is_sealed(event.data):
            data = opened.get(str(event.position))
            event.data = data if isinstance(data, dict) else {
                name: value for name, value in event.data.items() if name != SEALED}
    return events
