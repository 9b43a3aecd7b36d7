"""Loading clients at the contacts service's edge (services.contacts.schemas)."""
import pytest
from marshmallow import ValidationError

from services.common.errors import ValidationFailed
from services.contacts.schemas import (
    ClientPatchSchema,
    ClientSchema,
    NewClientSchema,
    flatten_errors,
    validate_client,
)

EMPTY_ADDRESS = {"street": None, "city": None, "postal_code": None, "region": None,
                 "country": None}
EMPTY_COMPANY = {"name": None, "website": None, "email": None, "phone": None}


def errors_of(data, **kwargs):
    with pytest.raises(ValidationFailed) as caught:
        validate_client(data, **kwargs)
    assert caught.value.status == 422
    assert caught.value.detail == "some fields are invalid"
    return caught.value.errors


# -- new clients ---------------------------------------------------------------------------

def test_a_minimal_client_gets_every_field_with_its_default():
    assert validate_client({"name": "Fundació Catalana"}) == {
        "kind": "company", "name": "Fundació Catalana", "tax_id": None, "email": None,
        "phone": None, "country": None, "language": None, "gender": None, "category": None,
        "tags": [], "address": None, "company": None, "notes": None,
    }


def test_new_client_schema_load_gives_the_same_result():
    assert NewClientSchema().load({"name": "Fundació Catalana"}) == \
        validate_client({"name": "Fundació Catalana"})


def test_a_full_client_is_normalised():
    client = validate_client({
        "kind": "Person",
        "name": "  João   Silva ",
        "tax_id": "PT 501 964 843",
        "email": " Joao.Silva@EXEMPLO.PT ",
        "phone": 912345678,
        "country": "portugal",
        "language": "PT-br",
        "gender": " female ",
        "category": "Retail",
        "tags": ["VIP", " export ", "vip", ""],
        "address": {"street": "Rua Augusta 10", "city": "Lisboa", "postal_code": "1100-053",
                    "country": "pt"},
        "company": {"name": "Lusa Tecnologia, Lda.", "website": "www.lusa.pt",
                    "email": "geral@LUSA.pt", "phone": "21 234 5678"},
        "notes": "  Prefers email.\nCall after 15:00.  ",
    })
    assert client == {
        "kind": "person",
        "name": "João Silva",
        "tax_id": "PT501964843",
        "email": "Joao.Silva@exemplo.pt",
        "phone": "+351912345678",
        "country": "PT",
        "language": "pt",
        "gender": "female",
        "category": "Retail",
        "tags": ["VIP", "export"],
        "address": {"street": "Rua Augusta 10", "city": "Lisboa", "postal_code": "1100-053",
                    "region": None, "country": "PT"},
        "company": {"name": "Lusa Tecnologia, Lda.", "website": "https://www.lusa.pt",
                    "email": "geral@lusa.pt", "phone": "+351212345678"},
        "notes": "Prefers email.\nCall after 15:00.",
    }


def test_spreadsheet_values():
    client = validate_client({
        "name": "São Paulo Seguros", "tax_id": 16727230000197, "phone": 11912345678,
        "country": "Brasil", "tags": "seguros; vip, Seguros", "address": {"postal_code": 1310100},
    })
    assert client["tax_id"] == "16727230000197"
    assert client["phone"] == "+5511912345678"
    assert client["country"] == "BR"
    assert client["tags"] == ["seguros", "vip"]
    assert client["address"]["postal_code"] == "1310100"


def test_blank_strings_are_empty_values():
    client = validate_client({"name": "Müller GmbH", "email": "", "tax_id": "  ",
                              "address": {"city": " "}, "company": {}})
    assert client["email"] is None and client["tax_id"] is None
    assert client["address"] is None and client["company"] is None


def test_invisible_characters_and_line_ends_are_cleaned():
    client = validate_client({"name": "\ufeffAcme\x01 \u200bS.L.", "notes": "one\r\ntwo\rthree\t!"})
    assert client["name"] == "Acme S.L."
    assert client["notes"] == "one\ntwo\nthree\t!"


def test_nul_characters_and_unpaired_surrogates_are_refused_not_cleaned():
    with pytest.raises(ValidationFailed) as caught:
        validate_client({"name": "Acme\x00", "address": {"city": "Gir\ud800ona"}})
    assert caught.value.codes == {"name": ["nul_character"],
                                  "address.city": ["invalid_unicode"]}


def test_decomposed_accents_are_stored_composed():
    client = validate_client({"name": "Fundacio\u0301 Catalana"})  # as some Mac exports write it
    assert client["name"] == "Fundació Catalana"


def test_nested_objects_hold_all_their_keys():
    client = validate_client({"name": "x", "address": {"city": "Girona"},
                              "company": {"name": "X"}})
    assert client["address"] == {**EMPTY_ADDRESS, "city": "Girona"}
    assert client["company"] == {**EMPTY_COMPANY, "name": "X"}


@pytest.mark.parametrize("kind, stored", [
    ("company", "company"), ("PERSON", "person"), ("Empresa", "company"),
    ("persona", "person"), ("pessoa", "person"),
])
def test_kinds(kind, stored):
    assert validate_client({"name": "x", "kind": kind})["kind"] == stored


def test_the_address_country_applies_when_there_is_no_country():
    client = validate_client({"name": "x", "tax_id": "B58378431", "phone": "612345678",
                              "address": {"country": "es"}})
    assert client["tax_id"] == "B58378431" and client["phone"] == "+34612345678"
    assert client["country"] is None


def test_the_country_wins_over_the_address_country():
    errors = errors_of({"name": "x", "tax_id": "B58378431", "country": "PT",
                        "address": {"country": "ES"}})
    assert errors == {"tax_id": ["not a valid Portuguese tax id (NIF/NIPC)"]}


def test_company_phone_uses_the_client_country():
    client = validate_client({"name": "x", "country": "FR",
                              "company": {"phone": "01 23 45 67 89"}})
    assert client["company"]["phone"] == "+33123456789"


def test_tax_id_without_country_is_compact_and_eu_vat_is_checked():
    assert validate_client({"name": "x", "tax_id": "b-12.345.678"})["tax_id"] == "B12345678"
    assert errors_of({"name": "x", "tax_id": "ESB12345678"}) == {
        "tax_id": ["not a valid EU VAT number for Spain"]}


# -- errors --------------------------------------------------------------------------------

def test_every_invalid_field_is_reported_at_once_by_path():
    errors = errors_of({
        "kind": "robot",
        "name": "",
        "tax_id": "B12345678",
        "email": "ana@",
        "phone": "123",
        "country": "es",
        "language": "xx",
        "tags": ["ok", {"nested": True}],
        "address": {"country": "Narnia", "floor": 3},
        "company": {"website": "ftp://files.acme.es", "email": "x", "phone": "12"},
        "favourite_colour": "blue",
        "version": 7,
    })
    assert errors == {
        "kind": ["must be company or person"],
        "name": ["the name is required"],
        "tax_id": ["not a valid Spanish tax id (NIF/NIE/CIF)"],
        "email": ["not a valid email address (there must be something after the @-sign)"],
        "phone": ["not a valid phone number for Spain"],
        "language": ["not a known language (use a two-letter code such as es, pt or en)"],
        "tags.1": ["must be text"],
        "address.country": ["not a known country (use a two-letter code such as ES, PT or FR)"],
        "address.floor": ["this field is not recognised"],
        "company.website": ["only http:// and https:// websites are accepted"],
        "company.email": [
            "not a valid email address (an email address must have an @-sign)"],
        "company.phone": ["not a valid phone number for Spain"],
        "favourite_colour": ["this field is not recognised"],
        "version": ["this field is set by the system and cannot be changed"],
    }


def test_an_invalid_country_is_reported_instead_of_guessing_the_tax_id_rule():
    assert errors_of({"name": "x", "country": "Narnia", "tax_id": "B12345678"}) == {
        "country": ["not a known country (use a two-letter code such as ES, PT or FR)"]}


def test_required_and_typed_fields():
    assert errors_of({}) == {"name": ["the name is required"]}
    assert errors_of({"name": None, "kind": None}) == {
        "name": ["the name is required"], "kind": ["must be company or person"]}
    assert errors_of({"name": "x" * 201}) == {"name": ["must be at most 200 characters"]}
    assert errors_of({"name": ["x"]}) == {"name": ["must be text"]}
    assert errors_of({"name": True}) == {"name": ["must be text"]}
    assert errors_of({"name": "x", "address": "Carrer Gran 1"}) == {
        "address": ["must be an object with the fields street, city, postal_code, region, "
                    "country"]}
    assert errors_of({"name": "x", "tags": 5}) == {"tags": ["must be a list of labels"]}
    assert errors_of({"name": "x", "tags": ["ok", "bar; pub"]}) == {
        "tags.1": ["a tag cannot contain ';' (it separates tags in spreadsheets)"]}
    assert errors_of({"name": "x", "tags": [str(n) for n in range(51)]}) == {
        "tags": ["at most 50 tags"]}


def test_a_body_that_is_not_an_object():
    assert errors_of(["name"]) == {"_schema": ["must be a JSON object"]}


def test_schemas_raise_marshmallow_errors_that_flatten_to_paths():
    with pytest.raises(ValidationError) as caught:
        NewClientSchema().load({"name": "x", "address": {"country": "??"}, "tags": [1, []]})
    assert flatten_errors(caught.value.messages) == {
        "address.country": ["not a known country (use a two-letter code such as ES, PT or FR)"],
        "tags.1": ["must be text"],
    }


def test_flatten_errors_puts_object_level_errors_on_the_object_path():
    assert flatten_errors({"address": {"_schema": ["bad"]}, "_schema": ["worse"]}) == {
        "address": ["bad"], "_schema": ["worse"]}


# -- patches -------------------------------------------------------------------------------

CURRENT = {
    "id": "0b7f5a52-0000-4000-8000-000000000001", "version": 3, "kind": "company",
    "name": "Acme, S.L.", "tax_id": "B58378431", "email": "info@acme.es",
    "phone": "+34612345678", "country": "ES", "language": "es", "gender": None,
    "category": "Retail", "tags": ["vip"],
    "address": {"street": "Carrer Gran 1", "city": "Girona", "postal_code": "17001",
                "region": "Catalunya", "country": "ES"},
    "company": None, "notes": None, "archived": False,
}


def patch(data, current=CURRENT):
    return validate_client(data, partial=True, current=current)


def test_a_patch_returns_only_the_given_keys():
    assert patch({}) == {}
    assert patch({"email": " Ventas@ACME.es "}) == {"email": "Ventas@acme.es"}


def test_null_clears_optional_fields():
    assert patch({"email": None, "tax_id": "", "tags": None, "address": None,
                  "category": None}) == {
        "email": None, "tax_id": None, "tags": [], "address": None, "category": None}


def test_name_and_kind_cannot_be_cleared():
    assert errors_of({"name": None, "kind": ""}, partial=True, current=CURRENT) == {
        "name": ["the name is required"], "kind": ["must be company or person"]}
    assert errors_of({"name": "  "}, partial=True, current=CURRENT) == {
        "name": ["the name is required"]}


def test_nested_patches_merge_key_by_key():
    assert patch({"address": {"city": "Barcelona", "postal_code": None}}) == {
        "address": {"street": "Carrer Gran 1", "city": "Barcelona", "postal_code": None,
                    "region": "Catalunya", "country": "ES"}}
    assert patch({"company": {"website": "acme.es"}}) == {
        "company": {**EMPTY_COMPANY, "website": "https://acme.es"}}
    emptied = {key: None for key in EMPTY_ADDRESS}
    assert patch({"address": emptied}) == {"address": None}


def test_patch_rules_use_the_stored_country_when_the_patch_does_not_change_it():
    assert patch({"tax_id": "54362315K", "phone": "612 34 56 78"}) == {
        "tax_id": "54362315K", "phone": "+34612345678"}
    assert errors_of({"tax_id": "501964843"}, partial=True, current=CURRENT) == {
        "tax_id": ["not a valid Spanish tax id (NIF/NIE/CIF)"]}


def test_patch_rules_use_the_stored_address_country():
    current = {**CURRENT, "country": None}
    assert patch({"phone": "612345678"}, current) == {"phone": "+34612345678"}


def test_patch_rules_follow_a_new_country():
    assert patch({"country": "pt", "tax_id": "501 964 843", "phone": "912345678"}) == {
        "country": "PT", "tax_id": "501964843", "phone": "+351912345678"}


def test_a_new_address_country_applies_when_the_client_has_no_country():
    current = {**CURRENT, "country": None}
    assert patch({"address": {"country": "PT"}, "tax_id": "501964843"}, current) == {
        "address": {**CURRENT["address"], "country": "PT"}, "tax_id": "501964843"}


def test_changing_the_country_rechecks_the_stored_tax_id():
    assert errors_of({"country": "PT"}, partial=True, current=CURRENT) == {
        "tax_id": ["the current tax id does not fit the new country: "
                   "not a valid Portuguese tax id (NIF/NIPC)"]}
    # an EU VAT number fits any country; clearing the tax id is fine too
    assert patch({"country": "PT"}, {**CURRENT, "tax_id": "ESB58378431"}) == {"country": "PT"}
    assert patch({"country": "PT", "tax_id": None}) == {"country": "PT", "tax_id": None}


def test_unrelated_patches_do_not_recheck_stored_values():
    legacy = {**CURRENT, "tax_id": "B12345678"}  # recorded before tax ids were checked
    assert patch({"notes": "call back"}, legacy) == {"notes": "call back"}


def test_patches_report_every_invalid_field_at_once():
    assert errors_of({"email": "nope", "address": {"country": "Atlantis"},
                      "company": {"website": "acme"}, "id": "other"},
                     partial=True, current=CURRENT) == {
        "email": ["not a valid email address (an email address must have an @-sign)"],
        "address.country": ["not a known country (use a two-letter code such as ES, PT or FR)"],
        "company.website": ["not a valid website (e.g. https://www.example.com)"],
        "id": ["this field is set by the system and cannot be changed"],
    }


def test_patch_schema_without_a_current_record():
    assert ClientPatchSchema().load({"address": {"city": "Vic"}}) == {
        "address": {**EMPTY_ADDRESS, "city": "Vic"}}


# -- dumping -------------------------------------------------------------------------------

def test_client_schema_dumps_a_stored_record():
    record = {**CURRENT, "created_at": "2026-01-02T03:04:05Z",
              "updated_at": "2026-01-02T03:04:05Z", "internal": "hidden"}
    dumped = ClientSchema().dump(record)
    assert "internal" not in dumped
    assert dumped["address"] == CURRENT["address"]
    assert dumped["tags"] == ["vip"] and dumped["archived"] is False


def test_reused_schemas_never_mix_one_patch_with_another_clients_state():
    """Schema instances are pooled: a patch is checked against its own client only,
    also after a failed load and when loads of several clients interleave."""
    portuguese = {**CURRENT, "country": "PT", "tax_id": "501964843",
                  "address": {**CURRENT["address"], "country": "PT"}}
    with pytest.raises(ValidationFailed):
        patch({"tax_id": "not a tax id"})
    for _ in range(3):
        # The same phone number is national to Spain for one and to Portugal for the other.
        assert patch({"phone": "612345678"}) == {"phone": "+34612345678"}
        assert patch({"phone": "212345678"}, current=portuguese) == {"phone": "+351212345678"}
        assert validate_client({"name": "Nova"})["country"] is None
