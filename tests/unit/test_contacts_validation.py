"""Field normalisation of the contacts service (services.contacts.validation).

The tax ids below are real, valid numbers taken from python-stdnum's own examples
(and published company registrations); the invalid ones differ by their check digit.
"""
import pytest

from services.contacts.validation import (
    InvalidValue,
    duplicate_keys,
    fold_name,
    normalize_country,
    normalize_email,
    normalize_language,
    normalize_phone,
    normalize_tax_id,
    normalize_website,
    search_text,
    tax_id_key,
)

# -- tax ids -------------------------------------------------------------------------------

VALID_TAX_IDS = [
    # (typed, client country, stored)
    ("54362315K", "ES", "54362315K"),                   # DNI-based NIF
    ("54362315-k", "ES", "54362315K"),
    ("B58378431", "ES", "B58378431"),                   # CIF
    ("B-58.378.431", "ES", "B58378431"),
    (" b 58378431 ", "ES", "B58378431"),
    ("X2482300W", "ES", "X2482300W"),                   # NIE
    ("ESB58378431", "ES", "ESB58378431"),               # EU VAT of a Spanish client
    ("501964843", "PT", "501964843"),                   # NIF/NIPC
    ("501 964 843", "PT", "501964843"),
    (501964843, "PT", "501964843"),                     # a number from a spreadsheet
    (501964843.0, "PT", "501964843"),
    ("PT 501 964 843", "PT", "PT501964843"),
    ("552008443", "FR", "552008443"),                   # SIREN
    ("732 829 320 00074", "FR", "73282932000074"),      # SIRET
    ("FR40303265045", "FR", "FR40303265045"),           # TVA (EU VAT)
    ("40 303 265 045", "FR", "40303265045"),            # TVA without its prefix
    ("DE136695976", "DE", "DE136695976"),               # USt-IdNr
    ("136695976", "DE", "136695976"),
    ("00743110157", "IT", "00743110157"),               # Partita IVA
    ("IT00743110157", "IT", "IT00743110157"),
    ("RCCMNL83S18D969H", "IT", "RCCMNL83S18D969H"),     # codice fiscale
    ("GB980780684", "GB", "GB980780684"),               # UK VAT, prefix kept
    ("980 7806 84", "GB", "980780684"),
    ("16.727.230/0001-97", "BR", "16727230000197"),     # CNPJ
    ("390.533.447-05", "BR", "39053344705"),            # CPF
    ("NL004495445B01", "NL", "NL004495445B01"),
    ("BE0403019261", "BE", "BE0403019261"),
    ("ATU13585627", "AT", "ATU13585627"),
    ("EL094259216", "GR", "EL094259216"),
    ("GR094259216", "GR", "EL094259216"),               # Greece's VAT prefix is EL
    ("8567346215", "PL", "8567346215"),                 # NIP
    ("20-26756539-3", "AR", "20267565393"),             # CUIT
    ("GODE561231GR8", "MX", "GODE561231GR8"),           # RFC
    ("CHE-100.155.212", "CH", "CHE100155212"),          # UID
    ("04-2103594", "US", "042103594"),                  # EIN
]


@pytest.mark.parametrize("typed, country, stored", VALID_TAX_IDS)
def test_valid_tax_ids_are_stored_compact(typed, country, stored):
    assert normalize_tax_id(typed, country) == stored


@pytest.mark.parametrize("typed, country, stored", VALID_TAX_IDS)
def test_tax_id_normalisation_is_idempotent(typed, country, stored):
    assert normalize_tax_id(stored, country) == stored


INVALID_TAX_IDS = [
    ("54362315J", "ES", "not a valid Spanish tax id (NIF/NIE/CIF)"),
    ("B58378432", "ES", "not a valid Spanish tax id (NIF/NIE/CIF)"),
    ("B-12.345.678", "ES", "not a valid Spanish tax id (NIF/NIE/CIF)"),
    ("501964842", "PT", "not a valid Portuguese tax id (NIF/NIPC)"),
    ("552008442", "FR", "not a valid French tax id (SIREN, SIRET, TVA number or numéro fiscal)"),
    ("DE136695977", "DE", "not a valid German tax id (USt-IdNr, Steuernummer or Steuer-ID)"),
    ("00743110158", "IT", "not a valid Italian tax id (Partita IVA or codice fiscale)"),
    ("GB980780685", "GB", "not a valid UK tax id (VAT registration number or UTR)"),
    ("16.727.230/0001-98", "BR", "not a valid Brazilian tax id (CNPJ or CPF)"),
    ("390.533.447-06", "BR", "not a valid Brazilian tax id (CNPJ or CPF)"),
    # a prefixed number of another country that is not a valid EU VAT number either
    ("ESB58378432", "FR", "not a valid French tax id (SIREN, SIRET, TVA number or numéro fiscal)"
                          " or EU VAT number"),
    # no country: an EU VAT prefix must be a valid EU VAT number
    ("ESB58378432", None, "not a valid EU VAT number for Spain"),
    ("PT501964842", None, "not a valid EU VAT number for Portugal"),
    ("B58378431#", "ES", "a tax id can only contain letters and digits"),
    ("A" * 31, None, "a tax id has at most 30 characters"),
]


@pytest.mark.parametrize("typed, country, message", INVALID_TAX_IDS)
def test_invalid_tax_ids_are_explained(typed, country, message):
    with pytest.raises(InvalidValue) as caught:
        normalize_tax_id(typed, country)
    assert caught.value.message == message


@pytest.mark.parametrize("typed, country", [
    ("ESB58378431", "PT"), ("PT 501 964 843", "US"), ("DE136695976", "BR"),
    ("FR40303265045", None), ("ESB58378431", None), ("XI980780684", None),
])
def test_prefixed_eu_vat_numbers_are_accepted_whatever_the_country(typed, country):
    assert normalize_tax_id(typed, country) == typed.replace(" ", "")


@pytest.mark.parametrize("typed, country, stored", [
    ("b-12.345.678", None, "B12345678"),       # no country: compact, not checked
    ("123 456 789", None, "123456789"),
    ("GB980780684", None, "GB980780684"),      # GB is no longer an EU VAT prefix
    ("12-345 678/9", "ZZ", "123456789"),       # a country without a rule
    ("J-12345678-9", "NG", "J123456789"),
])
def test_tax_ids_without_a_rule_are_stored_compact(typed, country, stored):
    assert normalize_tax_id(typed, country) == stored


@pytest.mark.parametrize("blank", [None, "", "   ", " - "])
def test_blank_tax_id_is_none(blank):
    assert normalize_tax_id(blank, "ES") is None


def test_a_national_number_looking_like_a_vat_prefix_uses_the_country_rule():
    # Italian codice fiscale of someone called "De Angelis": starts with "DE"
    from stdnum.it import codicefiscale

    number = "DNGMRA85T10A562S"
    if not codicefiscale.is_valid(number):  # build a valid one from stdnum's check digit
        number = number[:-1] + codicefiscale.calc_check_digit(number[:-1])
    assert normalize_tax_id(number, "IT") == number


# -- phones --------------------------------------------------------------------------------

@pytest.mark.parametrize("typed, country, stored", [
    ("612 34 56 78", "ES", "+34612345678"),
    ("612345678", "ES", "+34612345678"),
    (612345678, "ES", "+34612345678"),          # spreadsheets drop the quotes
    (612345678.0, "ES", "+34612345678"),
    ("+34 612-34-56-78", None, "+34612345678"),
    ("+34 612 34 56 78", "PT", "+34612345678"),  # an international number needs no country
    ("0034 612 345 678", "ES", "+34612345678"),
    ("0034 612 345 678", None, "+34612345678"),
    ("34612345678", "ES", "+34612345678"),      # a "+" lost in a spreadsheet
    ("93 123 45 67", "ES", "+34931234567"),
    ("912 345 678", "PT", "+351912345678"),
    ("+351 21 234 5678", None, "+351212345678"),
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("(11) 91234-5678", "BR", "+5511912345678"),
    ("07400 123456", "GB", "+447400123456"),
    ("020 7946 0958", "GB", "+442079460958"),
    ("(201) 555-0123", "US", "+12015550123"),
    ("+1 201 555 0123", None, "+12015550123"),
    ("030 901820", "DE", "+4930901820"),
])
def test_valid_phones_become_e164(typed, country, stored):
    assert normalize_phone(typed, country) == stored
    assert normalize_phone(stored, country) == stored


@pytest.mark.parametrize("typed, country, message", [
    ("612345", "ES", "not a valid phone number for Spain"),
    ("123", "PT", "not a valid phone number for Portugal"),
    ("(11) 1234", "BR", "not a valid phone number for Brazil"),
    ("555-0123", "US", "not a valid phone number for United States"),
    ("+34 12", None, "not a valid phone number"),
    ("call me", "ES", "not a valid phone number"),
    ("612345678", None, "add the client's country, or write the number with its "
                        "international prefix (e.g. +34 612 34 56 78)"),
    ("+34 612 34 56 78 ext. 12", None,
     "an E.164 number has no extension: leave out '12' (write it in the notes)"),
    ("+44 20 7946 0018 x123", "GB",
     "an E.164 number has no extension: leave out '123' (write it in the notes)"),
])
def test_invalid_phones_are_explained(typed, country, message):
    with pytest.raises(InvalidValue) as caught:
        normalize_phone(typed, country)
    assert caught.value.message == message


# -- countries and languages ---------------------------------------------------------------

@pytest.mark.parametrize("typed, code", [
    ("ES", "ES"), ("es", "ES"), (" pt ", "PT"), ("ESP", "ES"), ("bra", "BR"),
    ("Spain", "ES"), ("España", "ES"), ("espanya", "ES"), ("Portugal", "PT"),
    ("Brasil", "BR"), ("Alemanya", "DE"), ("Deutschland", "DE"), ("Reino Unido", "GB"),
    ("UK", "GB"), ("United Kingdom", "GB"), ("Estados Unidos", "US"), ("França", "FR"),
])
def test_countries(typed, code):
    assert normalize_country(typed) == code


@pytest.mark.parametrize("typed", ["XX", "EU", "Narnia", "E", "1234"])
def test_unknown_countries(typed):
    with pytest.raises(InvalidValue, match="not a known country"):
        normalize_country(typed)


@pytest.mark.parametrize("typed, code", [
    ("es", "es"), ("ES", "es"), ("spa", "es"), ("ger", "de"), ("deu", "de"),
    ("pt-BR", "pt"), ("pt_BR", "pt"), ("en-GB", "en"), ("Spanish", "es"),
    ("español", "es"), ("Catalán", "ca"), ("català", "ca"), ("Português", "pt"),
    ("inglés", "en"), ("Deutsch", "de"), ("Français", "fr"), ("French / Français", "fr"),
    ("Spanish (AR) / Español (AR)", "es"),
])
def test_languages(typed, code):
    assert normalize_language(typed) == code


@pytest.mark.parametrize("typed", ["xx", "zz-ZZ", "Klingon", "e", "ast", "Klingon / tlhIngan"])
def test_unknown_languages(typed):
    # "ast" (Asturian) is a real language, but it has no ISO 639-1 two-letter code
    with pytest.raises(InvalidValue, match="not a known language"):
        normalize_language(typed)


@pytest.mark.parametrize("function", [normalize_country, normalize_language,
                                      normalize_email, normalize_website])
@pytest.mark.parametrize("blank", [None, "", "  "])
def test_blank_values_are_none(function, blank):
    assert function(blank) is None


# -- emails and websites -------------------------------------------------------------------

@pytest.mark.parametrize("typed, stored", [
    ("ana@acme.es", "ana@acme.es"),
    ("  Ana.Garcia@ACME.ES ", "Ana.Garcia@acme.es"),      # domain lower-cased, local part kept
    ("mailto:info@fundacio.cat", "info@fundacio.cat"),
    ("joão@empresa.pt", "joão@empresa.pt"),
    ("info@müller.de", "info@müller.de"),
    ("facturas+2024@example.com", "facturas+2024@example.com"),
])
def test_valid_emails(typed, stored):
    assert normalize_email(typed) == stored
    assert normalize_email(stored) == stored


@pytest.mark.parametrize("typed", [
    "ana", "ana@", "@acme.es", "ana@acme", "ana@@acme.es", "ana garcia@acme.es",
    "Ana <ana@acme.es>", "ana@acme..es", "ana@localhost",
])
def test_invalid_emails(typed):
    with pytest.raises(InvalidValue) as caught:
        normalize_email(typed)
    assert caught.value.message.startswith("not a valid email address")


@pytest.mark.parametrize("typed, stored", [
    ("www.example.com", "https://www.example.com"),
    ("example.com/contact", "https://example.com/contact"),
    ("HTTP://WWW.Example.COM/Path?a=1", "http://www.example.com/Path?a=1"),
    ("https://acme.es/", "https://acme.es"),
    ("https://acme.es:8443/shop", "https://acme.es:8443/shop"),
    ("müller.de", "https://müller.de"),
    ("https://fundacio.cat/ca/qui-som#equip", "https://fundacio.cat/ca/qui-som#equip"),
])
def test_valid_websites(typed, stored):
    assert normalize_website(typed) == stored
    assert normalize_website(stored) == stored


@pytest.mark.parametrize("typed, message", [
    ("ftp://files.acme.es", "only http:// and https:// websites are accepted"),
    ("javascript:alert(1)", "only http:// and https:// websites are accepted"),
    ("mailto:ana@acme.es", "only http:// and https:// websites are accepted"),
    ("localhost", "not a valid website (e.g. https://www.example.com)"),
    ("https://acme", "not a valid website (e.g. https://www.example.com)"),
    ("http://192.168.1.10", "not a valid website (e.g. https://www.example.com)"),
    ("www.acme .es", "not a valid website (e.g. https://www.example.com)"),
    ("https://user:pw@acme.es", "not a valid website (e.g. https://www.example.com)"),
    ("https://-acme.es", "not a valid website (e.g. https://www.example.com)"),
    ("https://acme.es:99999", "not a valid website (e.g. https://www.example.com)"),
])
def test_invalid_websites(typed, message):
    with pytest.raises(InvalidValue) as caught:
        normalize_website(typed)
    assert caught.value.message == message


# -- search and name folding ---------------------------------------------------------------

@pytest.mark.parametrize("query, text", [
    ("sao", "São Paulo Seguros"),
    ("SAO PAULO", "São Paulo Seguros"),
    ("fundacio", "Fundació Catalana"),
    ("muller", "Müller GmbH"),
    ("strasse", "Hauptstraße 1"),
    ("collectiu", "Col·lectiu Ronda"),
    ("acao", "Ação Social"),
    ("nunez", "Núñez y Asociados"),
    ("l'hospitalet", "L’Hospitalet de Llobregat"),
    ("ostergaard", "Østergaard ApS"),
])
def test_search_folding_matches_by_substring(query, text):
    assert search_text(query) in search_text(text)


def test_search_text_collapses_whitespace_and_handles_none():
    assert search_text("  São\u00a0Paulo \n Seguros ") == "sao paulo seguros"
    assert search_text(None) == ""


@pytest.mark.parametrize("names, folded", [
    (["Acme, S.L.", "ACME SL", "acme s.l.u.", "Acme Sociedad Limitada", "Acme"], "acme"),
    (["São Paulo Seguros Ltda.", "SAO PAULO SEGUROS LTDA", "São Paulo Seguros S/A"],
     "sao paulo seguros"),
    (["Fundació Catalana", "FUNDACIO CATALANA"], "fundacio catalana"),
    (["Müller GmbH", "Muller GmbH & Co. KG", "MÜLLER AG"], "muller"),
    (["Tecnologia Lusa, Lda.", "Tecnologia Lusa Unipessoal Lda", "Tecnologia Lusa S.A."],
     "tecnologia lusa"),
    (["Cooperativa del Camp SCCL", "Cooperativa del Camp, S.C.C.L.",
      "Cooperativa del Camp S. Coop."], "cooperativa del camp"),
    (["Rossi S.p.A.", "Rossi S.r.l.", "ROSSI SRL"], "rossi"),
    (["Dupont SARL", "Dupont SAS", "Dupont S.A.R.L."], "dupont"),
    (["Acme Ltd", "Acme Limited", "ACME LTD.", "Acme PLC"], "acme"),
    (["Acme Inc.", "Acme, LLC", "Acme Corp.", "Acme & Co."], "acme"),
    (["Philips N.V.", "Philips B.V."], "philips"),
    (["Nokia Oyj", "Nokia Oy"], "nokia"),
    (["Volvo AB", "Volvo AB (publ)"], "volvo"),
    (["Grupo Bimbo, S.A.B. de C.V.", "Grupo Bimbo SA de CV"], "grupo bimbo"),
    (["O'Brien & Sons Ltd", "OBrien Sons"], "obrien sons"),
    (["A.B.C. Consulting", "ABC Consulting", "A B C Consulting"], "abc consulting"),
])
def test_fold_name_ignores_case_accents_punctuation_and_legal_forms(names, folded):
    assert {fold_name(name) for name in names} == {folded}


def test_fold_name_keeps_a_name_made_only_of_a_legal_form():
    assert fold_name("AG") == "ag"
    assert fold_name("S.L.") == "sl"
    assert fold_name(None) == ""


def test_fold_name_only_strips_legal_forms_at_the_end():
    assert fold_name("SA Nostra Consultors") == "sa nostra consultors"
    assert fold_name("Limited Editions Books") == "limited editions books"


# -- duplicate keys ------------------------------------------------------------------------

def test_tax_id_keys_pair_the_number_with_its_country():
    assert tax_id_key("B-12.345.678", "ES") == "ES:B12345678"
    assert tax_id_key("ESB12345678", None) == "ES:B12345678"
    assert tax_id_key("ES B12345678", "ES") == "ES:B12345678"
    assert tax_id_key("EL094259216", None) == tax_id_key("094259216", "GR") == "GR:094259216"
    assert tax_id_key("GB980780684", "GB") == tax_id_key("980 7806 84", "GB") == "GB:980780684"
    assert tax_id_key("XI980780684", None) == "GB:980780684"
    assert tax_id_key("b12345678", None) == "B12345678"
    assert tax_id_key(None, "ES") is None
    assert tax_id_key("", "ES") is None


def test_duplicate_keys_match_the_same_client_typed_differently():
    first = duplicate_keys({
        "name": "Acme, S.L.", "tax_id": "B-12.345.678", "country": "ES",
        "email": "Facturas@ACME.es", "phone": "612 34 56 78",
    })
    second = duplicate_keys({
        "name": "ACME SL", "tax_id": "ESB12345678", "country": None,
        "email": "facturas@acme.es", "phone": "+34612345678",
    })
    assert first == second == {
        "tax_id": "ES:B12345678", "email": "facturas@acme.es", "phone": "+34612345678",
        "name": "acme",
    }


def test_duplicate_keys_use_the_address_country_when_there_is_no_country():
    keys = duplicate_keys({"name": "Lusa", "tax_id": "501 964 843", "phone": "912345678",
                           "address": {"country": "pt"}})
    assert keys["tax_id"] == "PT:501964843"
    assert keys["phone"] == "+351912345678"


def test_duplicate_keys_never_raise_on_stored_garbage():
    keys = duplicate_keys({"name": None, "tax_id": {"x": 1}, "email": "not an email",
                           "phone": "call me", "country": "Narnia", "address": "somewhere"})
    assert keys == {"tax_id": None, "email": None, "phone": None, "name": None}
    assert duplicate_keys({}) == {"tax_id": None, "email": None, "phone": None, "name": None}
    assert duplicate_keys(None)["name"] is None


def test_duplicate_keys_tolerate_values_recorded_before_validation():
    keys = duplicate_keys({"name": "x", "email": "Ana@Acme", "phone": "+34 600"})
    assert keys["email"] == "ana@acme"
    assert keys["phone"] is None
