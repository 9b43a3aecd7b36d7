"""The contacts domain: the Client and Merge aggregates, merge planning, and the pure rules
around them (duplicate scores, file types, list parameters, history changes)."""
import pytest

from services.common.envelope import EventEnvelope
from services.common.errors import (BadRequest, Conflict, NotFound, PayloadTooLarge,
                                    UnsupportedMediaType, ValidationFailed)
from services.contacts import duplicates, files, queries, timeline
from services.contacts.domain import (FIELDS, Client, Merge, merge_stream_id, plan_merge,
                                      unmerge_reverts)
from services.contacts.schemas import validate_client

WS = "acme"
T0 = "2026-11-23T10:00:00.000000Z"


def registered(client_id="c1", **fields):
    client = Client(client_id)
    client.register(WS, validate_client({"name": "Acme", **fields}), T0)
    return stored(client)


def stored(client):
    """Pretend the pending events were stored: rebuild from them, as a reload does."""
    events = client.collect()
    history = getattr(client, "_history", []) + events
    rebuilt = Client.rehydrate(client.id, [
        EventEnvelope(f"e{i}", e.type, 1, WS, client.id, i + 1, i + 1, T0, None, None, e.data)
        for i, e in enumerate(history)])
    rebuilt._history = history
    return rebuilt


def types(client):
    return [event.type for event in client.pending]


# -- registering ---------------------------------------------------------------------------

def test_register_records_every_field_with_defaults():
    client = Client("c1")
    client.register(WS, {"name": "Acme"}, T0)
    [event] = client.pending
    assert event.type == "ClientRegistered"
    assert event.data == {"client_id": "c1", "workspace": WS, "created_at": T0,
                          "kind": "company", "name": "Acme", "tax_id": None, "email": None,
                          "phone": None, "country": None, "language": None, "gender": None,
                          "category": None, "tags": [], "address": None, "company": None,
                          "notes": None}
    assert client.exists and client.next_version == 1


def test_register_twice_is_a_conflict():
    client = registered()
    with pytest.raises(Conflict):
        client.register(WS, {"name": "Again"}, T0)


@pytest.mark.parametrize("workspace, exists, raises", [
    (WS, True, False),
    ("globex", True, True),
    (WS, False, True),
])
def test_ensure_in(workspace, exists, raises):
    client = registered() if exists else Client("c1")
    if raises:
        with pytest.raises(NotFound):
            client.ensure_in(workspace)
    else:
        client.ensure_in(workspace)


# -- updating ------------------------------------------------------------------------------

@pytest.mark.parametrize("initial, values, changes, previous", [
    ({}, {"email": "a@example.com"}, {"email": "a@example.com"}, {"email": None}),
    ({"email": "a@example.com"}, {"email": "a@example.com"}, None, None),
    ({"email": "a@example.com"}, {"email": None}, {"email": None},
     {"email": "a@example.com"}),
    ({}, {"tags": []}, None, None),
    ({"tags": ["x"]}, {"tags": ["x", "y"]}, {"tags": ["x", "y"]}, {"tags": ["x"]}),
    ({}, {"name": "Acme", "category": "Retail"}, {"category": "Retail"}, {"category": None}),
    ({"address": {"city": "Porto"}}, {"address": {"street": None, "city": "Lisboa",
                                                  "postal_code": None, "region": None,
                                                  "country": None}},
     {"address": {"street": None, "city": "Lisboa", "postal_code": None, "region": None,
                  "country": None}},
     {"address": {"street": None, "city": "Porto", "postal_code": None, "region": None,
                  "country": None}}),
    ({}, {}, None, None),
])
def test_update_records_only_what_differs(initial, values, changes, previous):
    client = registered(**initial)
    recorded = client.update(values)
    if changes is None:
        assert recorded is False and client.pending == []
    else:
        assert recorded is True and types(client) == ["ClientUpdated"]
        assert client.pending[0].data == {"client_id": "c1", "changes": changes,
                                          "previous": previous}
        assert stored(client).state() == client.state()


def test_update_refuses_unknown_fields():
    with pytest.raises(ValueError):
        registered().update({"colour": "red"})


def test_an_updated_event_does_not_share_state_with_the_aggregate():
    client = registered(tags=["a"])
    client.update({"tags": ["a", "b"]})
    client.fields["tags"].append("mutated")
    assert client.pending[0].data["changes"]["tags"] == ["a", "b"]


# -- state transitions ------------------------------------------------------------------------

def _archived(client):
    client.archive()
    return stored(client)


def _merged(client):
    client.archive(merged_into="s1", merge_id="m1")
    return stored(client)


@pytest.mark.parametrize("prepare, command, error, event", [
    (None, lambda c: c.archive(), None, "ClientArchived"),
    (_archived, lambda c: c.archive(), Conflict, None),
    (_archived, lambda c: c.restore(), None, "ClientRestored"),
    (None, lambda c: c.restore(), Conflict, None),
    (_merged, lambda c: c.restore(), Conflict, None),
    (_merged, lambda c: c.restore(merge_id="m1"), None, "ClientRestored"),
    (_merged, lambda c: c.restore(merge_id="other"), Conflict, None),
    (_archived, lambda c: c.update({"notes": "x"}), Conflict, None),
    (_merged, lambda c: c.update({"notes": "x"}), Conflict, None),
    (_archived, lambda c: c.change_photo("image/png", 10), Conflict, None),
    (None, lambda c: c.change_photo("image/png", 10), None, "ClientPhotoChanged"),
    (None, lambda c: c.remove_photo(), NotFound, None),
    (None, lambda c: c.attach_file("f1", "a.pdf", 3, "application/pdf"), None,
     "ClientFileAttached"),
    (None, lambda c: c.remove_file("f1"), NotFound, None),
    (_archived, lambda c: c.attach_file("f1", "a.pdf", 3, "application/pdf"), Conflict, None),
])
def test_transitions(prepare, command, error, event):
    client = registered()
    if prepare is not None:
        client = prepare(client)
    if error is not None:
        with pytest.raises(error):
            command(client)
        assert client.pending == []
    else:
        command(client)
        assert types(client) == [event]


def test_archive_and_restore_data_and_state():
    client = registered()
    client.archive(merged_into="s1", merge_id="m1")
    assert client.pending[0].data == {"client_id": "c1", "merged_into": "s1", "merge_id": "m1"}
    client = stored(client)
    assert (client.archived, client.merged_into, client.merge_id) == (True, "s1", "m1")
    with pytest.raises(Conflict) as caught:
        client.update({"notes": "x"})
    assert caught.value.extra == {"merged_into": "s1"}
    client.restore(merge_id="m1")
    assert client.pending[0].data == {"client_id": "c1", "merge_id": "m1"}
    client = stored(client)
    assert (client.archived, client.merged_into, client.merge_id) == (False, None, None)


def test_photo_and_files_state():
    client = registered()
    client.change_photo("image/webp", 120)
    client.attach_file("f1", "a.pdf", 3, "application/pdf")
    client.attach_file("f2", "b.txt", 1, "text/plain")
    client = stored(client)
    assert client.photo == {"content_type": "image/webp", "size": 120}
    assert client.files == {"f1", "f2"}
    with pytest.raises(Conflict):
        client.attach_file("f1", "again.pdf", 3, "application/pdf")
    client.remove_photo()
    assert client.pending[-1].data == {"client_id": "c1", "content_type": None, "size": None}
    client.remove_file("f1")
    assert client.pending[-1].data == {"client_id": "c1", "file_id": "f1"}
    client = stored(client)
    assert client.photo is None and client.files == {"f2"}


# -- merging -----------------------------------------------------------------------------------

def clients_for_merge():
    survivor = registered("s", email=None, phone="+34612345678", tags=["a"])
    dup = registered("d", name="Acme SL", email="d@example.com", phone="+34699999999")
    dup2 = registered("e", notes="from e")
    return survivor, dup, dup2


@pytest.mark.parametrize("choices, expected", [
    ({}, {}),
    ({"email": "d"}, {"email": "d@example.com"}),
    ({"email": "d", "phone": "s"}, {"email": "d@example.com"}),
    ({"phone": "d", "notes": "e"}, {"phone": "+34699999999", "notes": "from e"}),
    ({"name": "d", "tags": "e"}, {"name": "Acme SL", "tags": []}),
    ({"notes": "d"}, {}),  # both empty: nothing changes
])
def test_plan_merge_takes_the_chosen_values(choices, expected):
    survivor, dup, dup2 = clients_for_merge()
    assert plan_merge(survivor, [dup, dup2], choices) == expected


@pytest.mark.parametrize("duplicate_ids, choices, errors", [
    ([], {}, {"duplicate_ids"}),
    (["s"], {}, {"duplicate_ids"}),
    (["d", "d"], {}, {"duplicate_ids"}),
    (["d"], {"planet": "d"}, {"fields.planet"}),
    (["d"], {"email": "x"}, {"fields.email"}),
    (["d"], {"email": 3}, {"fields.email"}),
    (["d"], {"id": "d", "version": "d"}, {"fields.id", "fields.version"}),
])
def test_plan_merge_refuses_bad_input(duplicate_ids, choices, errors):
    survivor, dup, dup2 = clients_for_merge()
    by_id = {"s": survivor, "d": dup, "e": dup2}
    with pytest.raises(ValidationFailed) as caught:
        plan_merge(survivor, [by_id[i] for i in duplicate_ids], choices)
    assert set(caught.value.errors) == errors


def test_plan_merge_refuses_fields_that_are_not_an_object():
    survivor, dup, _ = clients_for_merge()
    with pytest.raises(ValidationFailed):
        plan_merge(survivor, [dup], ["email"])


@pytest.mark.parametrize("which", ["survivor", "archived duplicate", "merged duplicate"])
def test_plan_merge_refuses_clients_that_cannot_merge(which):
    survivor, dup, _ = clients_for_merge()
    if which == "survivor":
        survivor = _archived(survivor)
    elif which == "archived duplicate":
        dup = _archived(dup)
    else:
        dup = _merged(dup)
    with pytest.raises(Conflict) as caught:
        plan_merge(survivor, [dup], {})
    if which == "merged duplicate":
        assert caught.value.extra["merged_into"] == "s1"


@pytest.mark.parametrize("current, changes, previous, reverts", [
    ({"email": "d@example.com"}, {"email": "d@example.com"}, {"email": None},
     {"email": None}),
    ({"email": "edited@example.com"}, {"email": "d@example.com"}, {"email": None}, {}),
    ({"tags": []}, {"tags": None}, {"tags": ["a"]}, {"tags": ["a"]}),
    ({}, {}, {}, {}),
])
def test_unmerge_reverts_what_nobody_changed_since(current, changes, previous, reverts):
    survivor = registered("s", **current)
    assert unmerge_reverts(survivor, changes, previous) == reverts


def test_the_merge_aggregate():
    merge = Merge(merge_stream_id("m1"))
    assert merge.id == "merge-m1"
    with pytest.raises(NotFound):
        merge.unmerge()
    merge.merge("m1", "s", ["d", "e"], {"email": "d@example.com"})
    assert merge.pending[0].type == "ClientsMerged"
    assert merge.pending[0].data == {"survivor_id": "s", "merged_ids": ["d", "e"],
                                     "merge_id": "m1", "fields": {"email": "d@example.com"}}
    with pytest.raises(Conflict):
        merge.merge("m1", "s", ["d"], {})
    merge.unmerge()
    assert merge.pending[1].data == {"survivor_id": "s", "merged_ids": ["d", "e"],
                                     "merge_id": "m1"}
    with pytest.raises(Conflict):
        merge.unmerge()
    events = merge.collect()
    again = Merge.rehydrate(merge.id, [
        EventEnvelope(f"e{i}", e.type, 1, WS, merge.id, i + 1, i + 1, T0, None, None, e.data)
        for i, e in enumerate(events)])
    assert again.unmerged and again.merged_ids == ["d", "e"] and again.version == 2


def test_fields_are_the_writable_fields_of_the_contract():
    assert FIELDS == ("kind", "name", "tax_id", "email", "phone", "country", "language",
                      "gender", "category", "tags", "address", "company", "notes")


# -- duplicate scores ----------------------------------------------------------------------------

@pytest.mark.parametrize("reasons, score", [
    (["tax_id"], 1.0),
    (["email"], 0.8),
    (["phone"], 0.6),
    (["name"], 0.5),
    (["email", "name"], 0.9),
    (["phone", "name"], 0.8),
    (["email", "phone", "name"], 0.96),
    (["tax_id", "name"], 1.0),
])
def test_duplicate_scores(reasons, score):
    assert duplicates.score(reasons) == score


def test_duplicate_pages():
    items = [{"client_ids": [str(i)], "reasons": ["name"], "score": 0.5} for i in range(5)]
    first = duplicates.page(items, 2, None)
    second = duplicates.page(items, 2, first["next_cursor"])
    third = duplicates.page(items, 2, second["next_cursor"])
    assert first["items"] + second["items"] + third["items"] == items
    assert third["next_cursor"] is None
    with pytest.raises(BadRequest):
        duplicates.page(items, 2, "not-a-cursor")


# -- file rules ----------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8L" + b"\x00" * 8
GIF = b"GIF89a" + b"\x00" * 10
PDF = b"%PDF-1.7\n"
ZIP = b"PK\x03\x04" + b"\x00" * 20
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 8


@pytest.mark.parametrize("data, expected", [
    (PNG, "image/png"), (JPEG, "image/jpeg"), (WEBP, "image/webp"),
    (GIF, UnsupportedMediaType), (b"hello", UnsupportedMediaType),
    (b"RIFF\x10\x00\x00\x00WAVEfmt ", UnsupportedMediaType),
    (PNG + b"\x00" * (2 * files.MiB), PayloadTooLarge),
])
def test_photo_types_by_content(data, expected):
    if isinstance(expected, str):
        assert files.photo_type(data) == expected
    else:
        with pytest.raises(expected):
            files.photo_type(data)


@pytest.mark.parametrize("name, data, expected", [
    ("report.pdf", PDF, "application/pdf"),
    ("REPORT.PDF", PDF, "application/pdf"),
    ("logo.png", PNG, "image/png"),
    ("photo.jpeg", JPEG, "image/jpeg"),
    ("contract.docx", ZIP, "application/vnd.openxmlformats-officedocument."
                           "wordprocessingml.document"),
    ("old.xls", OLE, "application/vnd.ms-excel"),
    ("notes.txt", "Olá, mundo".encode(), "text/plain"),
    ("clientes.csv", "nome;cidade\nJoão;Évora\n".encode("cp1252"), "text/csv"),
    ("card.vcf", b"BEGIN:VCARD\r\nEND:VCARD\r\n", "text/vcard"),
    ("no-extension", PDF, "application/pdf"),
    ("README", b"plain words", "text/plain"),
    ("photo.png", b"just text", UnsupportedMediaType),
    ("report.pdf", PNG, UnsupportedMediaType),
    ("notes.txt", b"\x00\x01binary", UnsupportedMediaType),
    ("setup.exe", b"MZ\x90\x00", UnsupportedMediaType),
    ("drawing.svg", b"<svg/>", UnsupportedMediaType),
    ("blob", b"\x00\x01\x02", UnsupportedMediaType),
    ("big.pdf", PDF + b"0" * (20 * files.MiB), PayloadTooLarge),
])
def test_attachment_types_by_content_and_name(name, data, expected):
    if isinstance(expected, str):
        assert files.attachment_type(name, data) == expected
    else:
        with pytest.raises(expected):
            files.attachment_type(name, data)


@pytest.mark.parametrize("raw, clean", [
    ("Relatório.pdf", "Relatório.pdf"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\ana\\nota.txt", "nota.txt"),
    ("a\x00b\x1f.txt", "ab.txt"),
    ("", "file"),
    ("...", "file"),
    ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ("Rela\u0301torio.pdf", "Relátorio.pdf"),
])
def test_clean_file_names(raw, clean):
    assert files.clean_file_name(raw) == clean


def test_storage_paths_are_made_of_ids_only(tmp_path):
    storage = files.FileStorage(tmp_path)
    client_id = "0b7c6f5e-8a55-4e4f-9c1f-7d0e3c2a1b00"
    assert storage.photo_path(client_id) == tmp_path / client_id / "photo"
    with pytest.raises(ValueError):
        storage.file_path(client_id, "../../x")
    target = storage.file_path(client_id, "5a2b1c00-0000-4000-8000-000000000001")
    staged = storage.stage(b"bytes", target)
    storage.commit(staged, target)
    assert storage.read(target) == b"bytes"
    storage.discard(target)
    assert storage.read(target) is None


# -- list parameters -----------------------------------------------------------------------------

@pytest.mark.parametrize("params, errors", [
    ({}, set()),
    ({"q": "sao", "sort": "-created_at", "limit": "500", "archived": "all"}, set()),
    ({"limit": "501"}, {"limit"}),
    ({"limit": "0"}, {"limit"}),
    ({"limit": "ten"}, {"limit"}),
    ({"sort": "id"}, {"sort"}),
    ({"archived": "yes"}, {"archived"}),
    ({"added_from": "2026-13-01", "added_to": "x"}, {"added_from", "added_to"}),
    ({"country": "Narnia"}, {"country"}),
    ({"cursor": "!!"}, {"cursor"}),
    ({"page": "2"}, {"page"}),
])
def test_list_parameters(params, errors):
    if not errors:
        parsed = queries.parse_list_params(params)
        assert parsed["limit"] == int(params.get("limit", 50))
        return
    with pytest.raises(BadRequest) as caught:
        queries.parse_list_params(params)
    assert set(caught.value.errors) == errors


def test_cursors_belong_to_their_sort():
    cursor = queries.encode_cursor(["name", "acme", "c1"])
    assert queries.parse_list_params({"sort": "name", "cursor": cursor})["cursor"] == \
        ("acme", "c1")
    with pytest.raises(BadRequest):
        queries.parse_list_params({"sort": "-name", "cursor": cursor})


@pytest.mark.parametrize("term, window", [
    ("sao paulo", "sao paulo"),
    ("hola@barcelonabordados23.example.com", "barcelonabordado"),
    ("carmen.goncalo3@example.org", "carmen.goncalo3@"),
    ("contabilidade@solbodega52.example.es", "dade@solbodega52"),
    ("aeronautica cafeteria ltda.", "aeronautica cafe"),
    ("talho insular unipessoal lda.", "talho insular un"),
    ("catalana tarragona sl", "ana tarragona sl"),
    ("joalharia alimentacao ltda.", "aria alimentacao"),
    ("ana maria da silva e souza", "ana maria da sil"),
    ("x" * 40, "x" * 16),
    ("info@example.com.example.org", "info@example.com"),
])
def test_long_terms_look_up_a_distinctive_window(term, window):
    assert queries.indexed_window(term) == window
    assert window in term and len(window) <= queries.MAX_INDEXED


def test_search_document_is_folded():
    record = {"name": "São Paulo Seguros", "tax_id": "B58378431",
              "email": "Contato@SPS.example.com", "company": {"name": "Grupo Ibérico"}}
    assert queries.search_document(record) == \
        "sao paulo seguros | b58378431 | contato@sps.example.com | grupo iberico"


# -- history -------------------------------------------------------------------------------------

@pytest.mark.parametrize("event_type, data, changes", [
    ("ClientRegistered", {"name": "Acme", "email": None, "tags": [], "kind": "company"},
     {"name": [None, "Acme"], "kind": [None, "company"]}),
    ("ClientUpdated", {"changes": {"email": "b@example.com"},
                       "previous": {"email": "a@example.com"}},
     {"email": ["a@example.com", "b@example.com"]}),
    ("ClientArchived", {"merged_into": None}, {"archived": [False, True]}),
    ("ClientArchived", {"merged_into": "s"}, {"archived": [False, True],
                                             "merged_into": [None, "s"]}),
    ("ClientRestored", {"merge_id": None}, {"archived": [True, False]}),
    ("ClientFileAttached", {"file_id": "f"}, {}),
])
def test_history_changes(event_type, data, changes):
    assert timeline.changes_of(event_type, data) == changes


@pytest.mark.parametrize("data, named", [
    ({"client_id": "a", "previous_client_id": "b"}, ["a", "b"]),
    ({"client_id": "a", "previous_client_id": None}, ["a"]),
    ({"client_id": "a", "previous_client_id": "a"}, ["a"]),
    ({"previous_client_id": "b"}, ["b"]),
    ({"client_id": None}, []),
])
def test_events_name_their_clients(data, named):
    assert timeline.named_clients(data) == named


def test_the_timeline_consumes_the_documented_types():
    from services.common.contract import EVENT_TYPES

    for source, handlers in timeline.HANDLERS.items():
        assert set(handlers) <= EVENT_TYPES[source]
