"""Problem and field codes: they survive RPC, every message has a translation in every
language the API answers, and the API answers in the caller's language."""
import pytest
from nameko.exceptions import deserialize, serialize

from gateway import problems
from services.common.errors import (Conflict, Message, PreconditionFailed, ValidationFailed,
                                    _fields, registered)
from services.contacts import schemas as contact_schemas

LOCALES = [locale for locale in problems.LOCALES if locale != problems.DEFAULT_LOCALE]


@pytest.mark.parametrize("locale", LOCALES)
def test_every_registered_message_has_a_translation_with_the_same_params(locale):
    translations = problems.catalog(locale)
    missing, broken = [], []
    for code, template in registered():
        text = translations.pgettext(code, template)
        if text == template and template.strip("{}' :") and not template.startswith("'{"):
            missing.append(f"{code}: {template}")
        elif sorted(set(_fields(text))) != sorted(set(_fields(template))):
            broken.append(f"{code}: {template} -> {text}")
    assert missing == [] and broken == []


def test_a_field_message_written_as_text_gets_the_code_of_its_template():
    error = ValidationFailed("some fields are invalid", {
        "name": ["must be at most 200 characters"], "tax_id": ["not a valid Portuguese NIF"],
        "x": ["a text nobody registered"]})
    assert error.codes == {"name": ["too_long"], "tax_id": ["invalid_tax_id"], "x": ["invalid"]}
    assert error.errors["name"] == ["must be at most 200 characters"]
    assert error.field_errors["name"][0]["params"] == {"max": "200"}
    assert error.problem_code == "validation_failed"


def test_codes_templates_and_params_survive_rpc():
    error = Conflict("a client with this tax id already exists", extra={"existing_id": "c1"})
    again = deserialize(serialize(error))
    assert type(again) is Conflict
    assert (again.problem_code, again.detail, again.extra) == (
        "duplicate_tax_id", "a client with this tax id already exists", {"existing_id": "c1"})
    stale = deserialize(serialize(PreconditionFailed("the client is at version 4, not 3; read "
                                                     "it again", extra={"version": 4})))
    assert (stale.problem_code, stale.extra["version"]) == ("version_mismatch", 4)
    invalid = deserialize(serialize(ValidationFailed("some fields are invalid", {
        "hours": [Message("out_of_range", "must be more than 0 and at most {max}", {"max": 24})]})))
    assert invalid.codes == {"hours": ["out_of_range"]}
    assert problems.localize_problem(invalid, "es")["errors"] == {
        "hours": ["debe ser mayor que 0 y como máximo 24"]}


def test_schema_messages_carry_codes_and_translate():
    with pytest.raises(ValidationFailed) as caught:
        contact_schemas.validate_client({"name": "x" * 201, "country": "ES",
                                         "tax_id": "X1234", "colour": "red"})
    error = caught.value
    assert error.codes == {"name": ["too_long"], "tax_id": ["invalid_tax_id"],
                           "colour": ["unknown_field"]}
    body = problems.localize_problem(error, "ca")
    assert body["codes"] == error.codes and body["code"] == "validation_failed"
    assert body["type"] == "/problems/validation-failed"
    assert body["errors"]["name"] == ["ha de tenir com a màxim 200 caràcters"]
    assert body["errors"]["colour"] == ["aquest camp no es reconeix"]
    assert body["detail"] == "alguns camps no són vàlids"


@pytest.mark.parametrize("header, locale", [
    ("pt-BR,pt;q=0.9,en;q=0.5", "pt-BR"), ("pt", "pt-PT"), ("pt-PT", "pt-PT"),
    ("es-MX,en;q=0.5", "es"), ("de,ca;q=0.3", "ca"), ("fr", "en"), ("", "en"), (None, "en"),
    ("en;q=0.2,es;q=0.8", "es"), ("ca;q=0", "en"), ("@@;q=x", "en")])
def test_the_language_is_negotiated_from_accept_language(header, locale):
    assert problems.negotiate_locale(header) == locale


def test_distinct_conflicts_have_distinct_types():
    conflicts = {Conflict(text).problem_code for text in (
        "a client with this tax id already exists",
        "a request with this Idempotency-Key is still in progress; retry in a moment",
        "invoice is already void", "this client is archived; restore it before changing it")}
    assert conflicts == {"duplicate_tax_id", "idempotency_key_in_flight",
                         "transition_not_allowed", "client_archived"}
