"""The rules of an erasure that need no running service (docs/privacy.md)."""
import io

import openpyxl
import pytest
from sqlalchemy import insert

from gateway.api.privacy import erase_confirmation
from services.common.db import Database
from services.common.errors import Conflict, Gone, ValidationFailed
from services.contacts import spreadsheets
from services.contacts.domain import Client
from services.contacts.imports.tables import jobs
from services.contacts.privacy import (_blanked_csv, _confirmed, _identifiers, _mentions,
                                       _refuse_while_importing)
from services.contacts.service import migrate

NAME = "Joana Brito Castanheira"


def client(**fields):
    person = Client("7b0d7a5e-9f5e-4b8e-9b1a-2f9c7c6d1a11")
    person.register("acme", {"kind": "person", "name": NAME, "email": "joana@brito.example.pt",
                             "phone": "+351 912 345 678", "tax_id": "PT 123 456 789",
                             **fields}, "2026-12-01T00:00:00.000000Z")
    return person


def test_the_confirmation_is_the_clients_id_or_legal_name():
    person = client()
    _confirmed(person, NAME)
    _confirmed(person, f"  {NAME} ")
    _confirmed(person, person.id)
    for wrong in (None, "", "  ", "Joana", NAME.lower(), 42):
        with pytest.raises(ValidationFailed) as raised:
            _confirmed(person, wrong)
        assert raised.value.problem_code == "erasure_not_confirmed"


def test_the_gateway_checks_the_body_before_asking():
    assert erase_confirmation({"confirmation": NAME}) == NAME
    with pytest.raises(ValidationFailed) as raised:
        erase_confirmation({})
    assert raised.value.problem_code == "erasure_not_confirmed"
    for body in ({"confirmation": 7}, {"confirmation": "x" * 301},
                 {"confirmation": NAME, "reason": "asked"}):
        with pytest.raises(ValidationFailed) as raised:
            erase_confirmation(body)
        assert raised.value.problem_code == "validation_failed"


def test_an_erased_or_merged_client_cannot_be_erased_alone():
    person = client()
    person.archive(merged_into="5f1c1d3e-0000-4000-8000-000000000000", merge_id="m")
    with pytest.raises(Conflict) as raised:
        person.erase()
    assert raised.value.problem_code == "client_merged"
    person.erase(merged=True)  # with its survivor: the same person
    assert person.erased and person.fields == {}
    with pytest.raises(Gone) as raised:
        person.ensure_in("acme")
    assert raised.value.problem_code == "client_erased"


def test_a_row_names_the_person_by_any_spelling_of_what_identifies_them():
    identifiers = _identifiers(client())
    assert _mentions(["joana brito castanheira"], identifiers)
    assert _mentions(["JOANA@BRITO.EXAMPLE.PT"], identifiers)
    assert _mentions(["912345678"], identifiers)
    assert _mentions(["PT123456789"], identifiers)
    assert _mentions(["Sra. Joana Brito Castanheira, Lda."], identifiers)
    assert not _mentions(["Joana Silva", "joana@silva.example.pt", "912000000"], identifiers)


def test_erased_rows_are_blanked_in_place_keeping_every_other_row_at_its_number():
    book = openpyxl.Workbook()
    sheet = book.active
    for row in (["Nome", "Email"], [NAME, "joana@brito.example.pt"], [None, None],
                ["Rui Costa", "rui@costa.example.pt"]):
        sheet.append(row)
    content = io.BytesIO()
    book.save(content)
    table = spreadsheets.open_table(content.getvalue())
    rows = list(table.rows())
    blanked = spreadsheets.open_table(_blanked_csv(table, rows, {rows[0][0]}))
    kept = list(blanked.rows())
    assert blanked.header == ["Nome", "Email"]
    assert kept == [(number, cells) for number, cells in rows if number != rows[0][0]]
    assert b"Joana" not in _blanked_csv(table, rows, {rows[0][0]})


def test_an_erasure_waits_for_the_workspaces_running_import(tmp_path):
    url = f"sqlite:///{tmp_path / 'contacts.db'}"
    migrate(url)
    database = Database(url)
    try:
        with database.write() as conn:
            _refuse_while_importing(conn, "acme")
            conn.execute(insert(jobs).values(
                id="0b6a4c1e-1111-4111-8111-111111111111", workspace="acme",
                status="running", mode="upsert", dry_run=False, format="csv", processed=0,
                checkpoint=0, created=0, updated=0, unchanged=0, failed=0,
                created_at="2026-12-01T00:00:00.000000Z"))
            _refuse_while_importing(conn, "other")
            with pytest.raises(Conflict) as raised:
                _refuse_while_importing(conn, "acme")
            assert raised.value.problem_code == "import_running"
    finally:
        database.dispose()
