"""Read side of contacts: the query tables, kept in step with the events, and the list.

``project`` runs in the transaction that appended the events, so the tables never
lag behind the event store. ``list_clients`` is the search/filter/sort/keyset query
of ``GET /api/v1/clients`` (also used by the benchmark against a million rows).
"""
import functools
import hashlib
import json
import re
from datetime import timedelta

from sqlalchemy import (and_, delete, exists, false, func, insert, or_, select, text, true,
                        tuple_)

from services.common.errors import BadRequest
from services.common.schemas import bounded_date
from services.common.times import time_param
from services.common.paging import DEFAULT_LIMIT, check_limit, decode_cursor, encode_cursor

from . import validation
from .db import (client_files_table, client_match_keys_table, client_tags_table,
                 clients_table)
from .domain import (CLIENT_FILE_ATTACHED, CLIENT_FILE_REMOVED, FIELDS, RECORD_EVENTS)
from .validation import InvalidValue, duplicate_keys, search_text

clients = clients_table

SORTS = ("name", "-name", "created_at", "-created_at", "updated_at", "-updated_at")
ARCHIVED = ("false", "true", "all")
MIN_TRIGRAM = 3  # shorter terms cannot use a trigram index


# -- the record --------------------------------------------------------------------------

def client_record(client, version, updated_at):
    """The client as the API shows it."""
    record = {"id": client.id, "version": version}
    for name in FIELDS:
        record[name] = client.fields.get(name)
    record["kind"] = record["kind"] or "company"
    record["tags"] = list(record["tags"] or [])
    record.update({
        "created_at": client.created_at,
        "updated_at": updated_at,
        "archived": client.archived,
        "merged_into": client.merged_into,
        "photo": dict(client.photo) if client.photo else None,
    })
    return record


def search_document(record):
    """The folded text ``q`` is matched against: name, tax id, email, company name."""
    company = record.get("company") or {}
    parts = (record.get("name"), record.get("tax_id"), record.get("email"), company.get("name"))
    return " | ".join(text for text in (search_text(part) for part in parts) if text)


def row_values(record, workspace):
    """The ``clients`` row of a record (every column)."""
    return {
        "id": record["id"],
        "workspace": workspace,
        "version": record["version"],
        "kind": record["kind"],
        "name": record["name"],
        "tax_id": record["tax_id"],
        "email": record["email"],
        "phone": record["phone"],
        "country": record["country"],
        "category": record["category"],
        "category_key": search_text(record["category"])[:100] or None,
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "archived": record["archived"],
        "merged_into": record["merged_into"],
        "sort_name": search_text(record["name"])[:200],
        "search": search_document(record),
        "record": json.dumps(record, ensure_ascii=False, separators=(",", ":")),
    }


def match_keys(record):
    """``{kind: key}`` of a record (only the kinds it has a key for)."""
    return {kind: key[:300] for kind, key in duplicate_keys(record).items() if key}


# -- projection ----------------------------------------------------------------------------

def project(conn, client, envelopes, is_new):
    """Bring the query tables up to ``client``'s state after ``envelopes`` (events being
    appended in this transaction: ``type``, ``data``, ``stream_version``, ``occurred_at``)."""
    if client.erased:  # nothing of the person is kept (privacy.py)
        for table, column in ((clients, clients.c.id),
                              (client_tags_table, client_tags_table.c.client_id),
                              (client_match_keys_table, client_match_keys_table.c.client_id),
                              (client_files_table, client_files_table.c.client_id)):
            conn.execute(delete(table).where(column == client.id))
        return None
    last = envelopes[-1]
    # A client never changed since it was registered was last updated when it was created.
    updated_at = client.created_at if last.stream_version == 1 else last.occurred_at
    record = client_record(client, last.stream_version, updated_at)
    row = row_values(record, client.workspace)
    if is_new:
        conn.execute(insert(clients).values(**row))
    else:
        conn.execute(clients.update().where(clients.c.id == client.id).values(**row))
    types = {envelope.type for envelope in envelopes}
    if types & RECORD_EVENTS:
        _replace_tags(conn, client, record, is_new)
        _replace_keys(conn, client, record, is_new)
    for envelope in envelopes:
        if envelope.type == CLIENT_FILE_ATTACHED:
            data = envelope.data
            conn.execute(insert(client_files_table).values(
                id=data["file_id"], client_id=client.id, workspace=client.workspace,
                name=data["name"], size=data["size"], content_type=data["content_type"],
                uploaded_at=envelope.occurred_at))
        elif envelope.type == CLIENT_FILE_REMOVED:
            conn.execute(delete(client_files_table)
                         .where(client_files_table.c.id == envelope.data["file_id"]))
    return record


def _replace_tags(conn, client, record, is_new):
    tags = client_tags_table
    if not is_new:
        conn.execute(delete(tags).where(tags.c.client_id == client.id))
    folded = {search_text(tag)[:100] for tag in record["tags"]}
    folded.discard("")
    if folded:
        conn.execute(insert(tags), [{"client_id": client.id, "tag": tag,
                                     "workspace": client.workspace} for tag in sorted(folded)])


def _replace_keys(conn, client, record, is_new):
    """Only non-archived clients have keys: archived ones are neither duplicates nor
    hold a tax id."""
    keys = client_match_keys_table
    if not is_new:
        conn.execute(delete(keys).where(keys.c.client_id == client.id))
    if record["archived"]:
        return
    rows = [{"client_id": client.id, "kind": kind, "workspace": client.workspace, "key": key}
            for kind, key in match_keys(record).items()]
    if rows:
        conn.execute(insert(keys), rows)


# -- single reads ------------------------------------------------------------------------

def get_client(conn, workspace, client_id):
    row = conn.execute(
        select(clients.c.record)
        .where(clients.c.id == client_id)
        .where(clients.c.workspace == workspace)
    ).first()
    return json.loads(row.record) if row else None


def get_clients(conn, workspace, client_ids):
    """``{id: record}`` of those of ``client_ids`` that exist in ``workspace``."""
    found = {}
    ids = list(dict.fromkeys(str(i) for i in client_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in conn.execute(select(clients.c.id, clients.c.record)
                                .where(clients.c.workspace == workspace)
                                .where(clients.c.id.in_(chunk))):
            found[row.id] = json.loads(row.record)
    return found


def tax_id_holder(conn, workspace, record, exclude=()):
    """The id of another non-archived client holding ``record``'s tax id, or ``None``
    (the same number with no country on one side counts, ``same_tax_id``).

    Call it in the write transaction that will store ``record``: it first locks the
    number (``lock_tax_numbers``), so two writers of the same tax id check one after
    the other and the second sees the first's row.
    """
    key = match_keys(record).get("tax_id")
    if key is None:
        return None
    lock_tax_numbers(conn, workspace, [key])
    return tax_id_holders(conn, workspace, [key], exclude).get(key)


def _key_number(conn, key):
    """SQL for the number part of a tax id key with a country (``ES:B1`` -> ``B1``);
    on PostgreSQL the expression of index ``ix_client_match_keys_number`` (migration
    0007), so a tax id given without a country is an index lookup, not a scan."""
    if conn.dialect.name == "postgresql":
        return func.split_part(key, ":", 2)
    return func.substr(key, func.instr(key, ":") + 1)


def lock_tax_numbers(conn, workspace, keys):
    """PostgreSQL: transaction-scoped advisory locks on the numbers of tax id ``keys``
    (sorted, so two writers cannot deadlock; per number, so that a key with a country
    and one without serialise too). SQLite's database-wide write lock gives the same
    order."""
    if not keys or conn.dialect.name != "postgresql":
        return
    numbers = sorted({int.from_bytes(hashlib.sha256(
        f"contacts:tax_id:{workspace}:{validation.tax_number(key)}".encode()).digest()[:8],
        "big", signed=True) for key in keys})
    conn.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) "
                      "AS k ORDER BY k"), {"keys": numbers})


def tax_id_holders(conn, workspace, keys, exclude=()):
    """``{key: client_id}``: for each tax id key, a non-archived client holding it or,
    where one side has no country, the same number (``same_tax_id``); an exact holder
    first, then the lowest id."""
    table = client_match_keys_table
    keys = sorted(set(keys))
    found = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        # Exact keys, and the bare number of keys with a country (held without one).
        exact = set(chunk) | {validation.tax_number(key) for key in chunk if ":" in key}
        condition = table.c.key.in_(sorted(exact))
        bare = [key for key in chunk if ":" not in key]
        if bare:  # a key without a country matches that number in any country
            condition = or_(condition, _key_number(conn, table.c.key).in_(bare))
        query = (select(table.c.key, table.c.client_id).where(table.c.workspace == workspace)
                 .where(table.c.kind == "tax_id").where(condition)
                 .order_by(table.c.client_id))
        if exclude:
            query = query.where(table.c.client_id.not_in(list(exclude)))
        by_number = {}  # compared per number, not each key against every row held
        for row in conn.execute(query):
            by_number.setdefault(validation.tax_number(row.key), []).append(row)
        for key in chunk:
            holders = [row for row in by_number.get(validation.tax_number(key), ())
                       if validation.same_tax_id(key, row.key)]
            if holders:
                found[key] = next((row.client_id for row in holders if row.key == key),
                                  holders[0].client_id)
    return found


def find_by_keys(conn, workspace, wanted):
    """Non-archived clients whose normalised keys equal ``wanted`` ({kind: key}).

    Returns ``[(client_id, [kinds matched])]``, most kinds matched first.
    """
    keys = client_match_keys_table
    conditions = [and_(keys.c.kind == kind, keys.c.key == key) for kind, key in wanted.items()]
    if not conditions:
        return []
    matched = {}
    for row in conn.execute(select(keys.c.client_id, keys.c.kind)
                            .where(keys.c.workspace == workspace).where(or_(*conditions))):
        matched.setdefault(row.client_id, []).append(row.kind)
    order = {kind: index for index, kind in enumerate(wanted)}
    return sorted(((cid, sorted(kinds, key=order.get)) for cid, kinds in matched.items()),
                  key=lambda item: (-len(item[1]), min(order[k] for k in item[1]), item[0]))


def list_files(conn, workspace, client_id):
    files = client_files_table
    rows = conn.execute(select(files).where(files.c.workspace == workspace)
                        .where(files.c.client_id == client_id)
                        .order_by(files.c.uploaded_at, files.c.id)).all()
    return [file_metadata(row) for row in rows]


def get_file(conn, workspace, client_id, file_id):
    files = client_files_table
    row = conn.execute(select(files).where(files.c.workspace == workspace)
                       .where(files.c.client_id == client_id)
                       .where(files.c.id == file_id)).first()
    return file_metadata(row) if row else None


def file_metadata(row):
    return {"id": row.id, "name": row.name, "size": row.size,
            "content_type": row.content_type, "uploaded_at": row.uploaded_at}


# -- the list ------------------------------------------------------------------------------

def _bad(param, message):
    return BadRequest(f"'{param}': {message}", {param: [message]})


def _one(params, name):
    value = params.get(name)
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    if value is None:
        return None
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    return value or None


def parse_list_params(params):
    """Check the list's parameters (strings, as in a query string); 400 names each bad one."""
    params = params or {}
    parsed, errors = {}, {}
    known = {"q", "category", "country", "tag", "added_from", "added_to", "archived", "sort",
             "limit", "cursor", "updated_since"}
    for name in params:
        if name not in known:
            errors[name] = ["not a parameter of this list"]
    parsed["q"] = _one(params, "q")
    parsed["category"] = _one(params, "category")
    parsed["tag"] = _one(params, "tag")
    country = _one(params, "country")
    try:
        parsed["country"] = validation.normalize_country(country)
    except InvalidValue as exc:
        errors["country"] = [exc.message]
    for name in ("added_from", "added_to"):
        value = _one(params, name)
        parsed[name] = None
        if value is not None:
            try:
                parsed[name] = bounded_date(value)
            except ValueError as exc:
                out_of_range = exc.args and hasattr(exc.args[0], "code")
                errors[name] = [exc.args[0] if out_of_range else "must be a date (YYYY-MM-DD)"]
    parsed["updated_since"] = None
    try:
        parsed["updated_since"] = time_param(_one(params, "updated_since"), "updated_since")
    except BadRequest as bad:
        errors.update(bad.field_messages())
    archived = (_one(params, "archived") or "false").lower()
    if archived not in ARCHIVED:
        errors["archived"] = ["must be false, true or all"]
    parsed["archived"] = archived
    sort = _one(params, "sort") or "name"
    if sort not in SORTS:
        errors["sort"] = [f"must be one of {', '.join(SORTS)}"]
    parsed["sort"] = sort
    parsed["limit"] = DEFAULT_LIMIT
    try:
        parsed["limit"] = check_limit(_one(params, "limit"))
    except BadRequest as bad:
        errors.update(bad.errors)
    parsed["cursor"] = None
    if "sort" not in errors:
        try:  # a cursor holds its list's sort: one from another sort is refused
            key = decode_cursor(_one(params, "cursor"), (str, str, str))
        except BadRequest as bad:
            errors.update(bad.errors)
        else:
            if key is not None and key[0] != sort:
                errors["cursor"] = ["not a cursor of this sort (start again without it)"]
            elif key is not None:
                parsed["cursor"] = (key[1], key[2])
    if errors:
        raise BadRequest("some parameters are invalid: " + ", ".join(sorted(errors)), errors)
    return parsed


def _like_escape(text):
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _contains(conn, column, term):
    """``term`` occurs in ``column``: a LIKE the trigram index answers, or for terms too
    short for trigrams a plain substring test (the planner then walks the sort index,
    which finds a page of matches quickly because short terms match many rows)."""
    if len(term) >= MIN_TRIGRAM:
        return column.like(f"%{_like_escape(term)}%", escape="\\")
    return _substring(conn, column, term)


def _substring(conn, column, term):
    if conn.dialect.name == "postgresql":
        return func.strpos(column, term) > 0
    return func.instr(column, term) > 0


MAX_INDEXED = 16  # longest part of a term looked up in the trigram index
_TOKEN = re.compile(r"\w+")


# Parts of addresses that nearly every email or website has.
WEB_WORDS = ("www", "http", "https", "com", "org", "net", "info", "mail", "email", "gmail",
             "googlemail", "hotmail", "outlook", "live", "yahoo", "icloud", "example")


@functools.lru_cache(maxsize=1)
def _common_words():
    """Words too frequent to narrow a search: legal forms ("lda", "sl", "unipessoal") and
    the usual parts of email addresses."""
    words = {token for form in validation.LEGAL_FORMS
             for token in _TOKEN.findall(search_text(form).replace(".", ""))}
    words.update(WEB_WORDS)
    return frozenset(word for word in words if len(word) > 1)


def indexed_window(term):
    """The part of a long ``term`` to look up in the trigram index.

    The index's cost grows with the number of trigrams looked up, and long terms (a
    whole email address, a full name) carry frequent ones (``example.com``, ``ltda``)
    that add work without narrowing the result. So at most ``MAX_INDEXED`` characters
    are looked up: around the longest word that is not a legal form or a usual part of
    an address (in an email, the domain's name first), widened towards its neighbour
    when that one is distinctive too (two rare words together narrow the most), never
    into a usual part of an address; the whole term is then checked on those
    candidates.
    """
    if len(term) <= MAX_INDEXED:
        return term
    words = list(_TOKEN.finditer(term))
    common = _common_words()
    rare = [m for m in words if m.group() not in common]
    if not rare:
        return term[:MAX_INDEXED]
    at = term.find("@")
    domain = [m for m in rare if at >= 0 and m.start() > at and len(m.group()) >= 4]
    # In an address, the domain names the company; the mailbox is often generic
    # ("contabilidade@", "geral@"), unless the domain is (gmail.com).
    best = max(domain or rare, key=lambda m: len(m.group()))
    blocked = [(m.start(), m.end()) for m in words if m.group() in WEB_WORDS]

    def free(index):
        return not any(start <= index < end for start, end in blocked)

    start, end = best.start(), min(best.end(), best.start() + MAX_INDEXED)

    def widen_right():
        nonlocal end
        while end - start < MAX_INDEXED and end < len(term) and free(end):
            end += 1

    def widen_left():
        nonlocal start
        while end - start < MAX_INDEXED and start > 0 and free(start - 1):
            start -= 1

    position = words.index(best)
    if position > 0 and words[position - 1].group() not in common:
        widen_left()
        widen_right()
    else:
        widen_right()
        widen_left()
    return term[start:end]


_TAX_ID_SEPARATORS = re.compile(r"[\s.\-/\\,_']+")


def _looks_like_tax_id(compact):
    return (MIN_TRIGRAM <= len(compact) <= 30 and compact.isalnum()
            and sum(ch.isdigit() for ch in compact) >= 4)


def search_condition(conn, q, column=None):
    """Case- and accent-insensitive match of ``q`` on the search document, or ``None``."""
    column = clients.c.search if column is None else column
    term = search_text(q)
    if not term:
        return None
    terms = [term]
    compact = _TAX_ID_SEPARATORS.sub("", term)
    if compact != term and _looks_like_tax_id(compact):
        terms.append(compact)  # "b-58.378.431" finds the tax id stored as "b58378431"
    prefix = compact[:2].upper()
    if prefix in validation.EU_VAT_PREFIXES and compact[:2].isalpha() \
            and len(compact) >= 10 and _looks_like_tax_id(compact[2:]):
        # The EU VAT form finds the number stored without it: "ESB58378431" finds
        # "B58378431" (a stored "ESB58378431" contains both forms anyway).
        terms.append(compact[2:])
    conditions = []
    for t in terms:
        window = indexed_window(t)
        condition = _contains(conn, column, window)
        if window != t:
            # The whole term, written so that the trigram index does not take it (its
            # frequent trigrams are what the window avoids) while the planner still
            # sees a long pattern, hence a rare one.
            whole = (column + "").like(f"%{_like_escape(t)}%", escape="\\")
            condition = and_(condition, whole)
        conditions.append(condition)
    return conditions[0] if len(conditions) == 1 else or_(*conditions)


def list_clients(conn, workspace, params):
    """``{"items": [...], "next_cursor": str | None}``, see ``parse_list_params``.

    Two steps: the page's ids in sort order (which PostgreSQL answers from the covering
    sort index, or from the trigram index for a rare term), then their records by id.
    """
    p = params if params.get("_parsed") else {**parse_list_params(params), "_parsed": True}
    descending = p["sort"].startswith("-")
    c = clients.alias("c")
    column = {"name": c.c.sort_name, "created_at": c.c.created_at,
              "updated_at": c.c.updated_at}[p["sort"].lstrip("-")]
    page = (select(c.c.id, column.label("sort_value")).where(c.c.workspace == workspace))
    if p["archived"] == "false":
        page = page.where(c.c.archived == false())
    elif p["archived"] == "true":
        page = page.where(c.c.archived == true())
    if p["q"]:
        condition = search_condition(conn, p["q"], c.c.search)
        if condition is not None:
            page = page.where(condition)
    if p["category"]:
        page = page.where(c.c.category_key == search_text(p["category"])[:100])
    if p["country"]:
        page = page.where(c.c.country == p["country"])
    if p["tag"]:
        tags = client_tags_table
        page = page.where(exists(
            select(tags.c.client_id).where(tags.c.client_id == c.c.id)
            .where(tags.c.workspace == workspace)
            .where(tags.c.tag == search_text(p["tag"])[:100])))
    if p["updated_since"]:  # changed at or after (the change feed of integrators)
        page = page.where(c.c.updated_at >= p["updated_since"])
    if p["added_from"]:
        page = page.where(c.c.created_at >= p["added_from"].isoformat())
    if p["added_to"]:
        page = page.where(c.c.created_at < (p["added_to"] + timedelta(days=1)).isoformat())
    if p["cursor"]:
        value, last_id = p["cursor"]
        keyset = tuple_(column, c.c.id)
        page = page.where(keyset < tuple_(value, last_id) if descending
                          else keyset > tuple_(value, last_id))
    if descending:
        page = page.order_by(column.desc(), c.c.id.desc())
    else:
        page = page.order_by(column, c.c.id)
    page = page.limit(p["limit"] + 1).subquery("page")
    query = (select(clients.c.id, clients.c.record, page.c.sort_value)
             .join(page, page.c.id == clients.c.id))
    if descending:
        query = query.order_by(page.c.sort_value.desc(), page.c.id.desc())
    else:
        query = query.order_by(page.c.sort_value, page.c.id)
    rows = conn.execute(query).all()
    more = len(rows) > p["limit"]
    rows = rows[:p["limit"]]
    next_cursor = encode_cursor([p["sort"], rows[-1].sort_value, rows[-1].id]) if more else None
    return {"items": [json.loads(row.record) for row in rows], "next_cursor": next_cursor}
