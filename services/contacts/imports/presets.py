"""Presets: how other CRMs' exports map to a client (see docs/imports/*.md).

A preset is the header set one CRM writes when it exports contacts or companies, in the
languages it translates its column labels into, each mapped to a field path or to one
of the parts ``spreadsheets.row_to_client`` combines (name parts, street lines, a whole
address, an "is a company" flag). Headers a preset knows but no client field holds (an
owner, a creation date, a record id that is not ours) are ``ignore``: reported as
ignored columns, not unknown ones.

A file's preset is the one named by the caller (``preset``), else the one whose headers
match the file's best (:func:`detect`): at least :data:`MIN_MATCHES` of the file's
headers, one of them a mark of that CRM (a header no other program writes). The user's
mapping still wins over the preset, and headers the preset does not know are read with
the ordinary dictionary.
"""
from dataclasses import dataclass, field

from services.common.errors import Message, ValidationFailed

from .. import spreadsheets
from ..spreadsheets import header_key

MIN_MATCHES = 3
VCARD = "vcard"


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    labels: dict  # path -> [header, ...]
    marks: tuple  # headers that say "this file comes from this CRM"
    headers: dict = field(default_factory=dict)  # folded header -> path

    def __post_init__(self):
        folded = {}
        for path, labels in self.labels.items():
            for label in labels:
                folded.setdefault(header_key(label), path)
        object.__setattr__(self, "headers", folded)
        object.__setattr__(self, "marks", tuple(header_key(mark) for mark in self.marks))


def _preset(*identity, marks, **labels):
    """``Preset(name, title)`` with ``field__part=[headers]`` for each path."""
    paths = {key.replace("__", "."): value for key, value in labels.items()}
    return Preset(*identity, paths, tuple(marks))


HUBSPOT = _preset(
    "hubspot", "HubSpot",
    marks=("Record ID", "Contact owner", "Company owner", "Lifecycle Stage",
           "Company Domain Name", "Associated Company", "ID de registro",
           "Propietario del contacto", "Etapa del ciclo de vida", "ID do registro",
           "Proprietário do contato", "Fase do ciclo de vida", "Nombre de dominio de la empresa",
           "Número de teléfono móvil", "Mobile Phone Number", "Country/Region",
           "State/Region", "País/región", "Estado/Región", "País/Região", "Estado/Região"),
    name__given=["First Name", "Nombre", "Nome", "Nom"],
    name__family=["Last Name", "Apellidos", "Apellido", "Sobrenome", "Cognoms"],
    email=["Email", "Correo", "Correo electrónico", "E-mail", "Correu electrònic"],
    phone=["Phone Number", "Mobile Phone Number", "Número de teléfono",
           "Número de teléfono móvil", "Número de telefone", "Número de celular",
           "Número de telemóvel", "Número de telèfon", "Número de mòbil"],
    company__name=["Company Name", "Company name", "Associated Company",
                   "Nombre de la empresa", "Empresa asociada", "Nome da empresa",
                   "Empresa associada", "Nom de l'empresa"],
    company__website=["Website URL", "Company Domain Name", "URL del sitio web",
                      "Nombre de dominio de la empresa", "URL do site",
                      "Nome de domínio da empresa"],
    address__street=["Street Address", "Dirección", "Endereço", "Adreça"],
    address__street_2=["Street Address 2", "Dirección 2", "Endereço 2"],
    address__city=["City", "Ciudad", "Cidade", "Ciutat"],
    address__region=["State/Region", "Estado/Región", "Estado/Região", "Estat/Regió"],
    address__postal_code=["Postal Code", "Código postal", "CEP", "Codi postal"],
    country=["Country/Region", "País/región", "País/Região", "País/regió"],
    category=["Lifecycle Stage", "Type", "Etapa del ciclo de vida", "Tipo",
              "Fase do ciclo de vida", "Etapa del cicle de vida"],
    language=["Preferred language", "Idioma preferido", "Idioma preferit"],
    notes=["Description", "Descripción", "Descrição", "Descripció"],
    ignore=["Record ID", "Contact owner", "Company owner", "Create Date", "Last Activity Date",
            "Lead Status", "Job Title", "Industry", "Number of Employees", "Annual Revenue",
            "Time Zone", "ID de registro", "Propietario del contacto", "Fecha de creación",
            "Fecha de la última actividad", "Estado del lead", "Cargo", "Sector",
            "ID do registro", "Proprietário do contato", "Data de criação",
            "Data da última atividade", "Status do lead", "Setor"],
)

# Salesforce: reports and list views write the field labels (translated); Data Loader
# and the weekly Data Export write the API names (BillingStreet).
_SALESFORCE_ADDRESS = dict(
    address__city=["Billing City", "BillingCity", "Mailing City", "MailingCity",
                   "Ciudad de facturación", "Ciudad postal", "Cidade de cobrança",
                   "Cidade de correspondência"],
    address__region=["Billing State/Province", "BillingState", "Mailing State/Province",
                     "MailingState", "Estado o provincia de facturación",
                     "Estado o provincia postal", "Estado/Província de cobrança",
                     "Estado/Província de correspondência"],
    address__postal_code=["Billing Zip/Postal Code", "BillingPostalCode",
                          "Mailing Zip/Postal Code", "MailingPostalCode",
                          "Código postal de facturación", "Código postal",
                          "CEP de cobrança", "CEP de correspondência"],
    address__country=["Billing Country", "BillingCountry", "Mailing Country",
                      "MailingCountry", "País de facturación", "País postal",
                      "País de cobrança", "País de correspondência"],
)
_SALESFORCE_IGNORED = ["Account ID", "Id", "Account Owner", "OwnerId", "Created Date",
                       "CreatedDate", "Last Modified Date", "LastModifiedDate",
                       "Account Number", "AccountNumber", "Industry", "Employees",
                       "NumberOfEmployees", "Annual Revenue", "AnnualRevenue", "Fax",
                       "Contact ID", "Contact Owner", "Title", "Salutation", "AccountId",
                       "Id. de la cuenta", "Propietario de la cuenta", "Fecha de creación",
                       "Sector", "Empleados", "Ingresos anuales", "Id. del contacto",
                       "Propietario del contacto", "Cargo", "Tratamiento",
                       "ID da conta", "Proprietário da conta", "Data de criação", "Setor",
                       "Funcionários", "Receita anual", "ID do contato",
                       "Proprietário do contato", "Título", "Saudação",
                       "Shipping Street", "ShippingStreet", "Shipping City", "ShippingCity",
                       "Shipping State/Province", "ShippingState", "Shipping Zip/Postal Code",
                       "ShippingPostalCode", "Shipping Country", "ShippingCountry"]

SALESFORCE_ACCOUNTS = _preset(
    "salesforce-accounts", "Salesforce (accounts)",
    marks=("Billing Street", "BillingStreet", "Account Owner", "Billing Zip/Postal Code",
           "Calle de facturación", "Rua de cobrança", "Propietario de la cuenta",
           "Proprietário da conta"),
    name=["Account Name", "Name", "Nombre de la cuenta", "Nome da conta"],
    category=["Type", "Tipo"],
    phone=["Phone", "Teléfono", "Telefone"],
    company__website=["Website", "Sitio web", "Site"],
    notes=["Description", "Descripción", "Descrição"],
    address__street=["Billing Street", "BillingStreet", "Calle de facturación",
                     "Rua de cobrança"],
    address__full=["Billing Address", "Dirección de facturación", "Endereço de cobrança"],
    ignore=_SALESFORCE_IGNORED,
    **_SALESFORCE_ADDRESS,
)

SALESFORCE_CONTACTS = _preset(
    "salesforce-contacts", "Salesforce (contacts)",
    marks=("Mailing Street", "MailingStreet", "Contact Owner", "Mailing Zip/Postal Code",
           "Calle postal", "Rua de correspondência", "Propietario del contacto",
           "Proprietário do contato", "Contact ID", "AccountId"),
    name__given=["First Name", "FirstName", "Nombre", "Nome"],
    name__family=["Last Name", "LastName", "Apellidos", "Sobrenome"],
    company__name=["Account Name", "Nombre de la cuenta", "Nome da conta"],
    email=["Email", "Correo electrónico", "Email"],
    phone=["Phone", "Mobile", "MobilePhone", "Teléfono", "Móvil", "Telefone", "Celular"],
    notes=["Description", "Descripción", "Descrição"],
    address__street=["Mailing Street", "MailingStreet", "Calle postal",
                     "Rua de correspondência"],
    address__full=["Mailing Address", "Dirección postal", "Endereço de correspondência"],
    ignore=_SALESFORCE_IGNORED + ["Other Street", "OtherStreet", "Lead Source", "LeadSource",
                                  "Birthdate", "Department", "Home Phone", "Other Phone"],
    **_SALESFORCE_ADDRESS,
)

# Google Contacts' "Google CSV": numbered groups of label and value columns, several
# values of one field in one cell separated by " ::: ".
GOOGLE_CONTACTS = _preset(
    "google-contacts", "Google Contacts",
    marks=("E-mail 1 - Value", "Phone 1 - Value", "Address 1 - Formatted", "Group Membership",
           "Organization 1 - Name", "Organization Name", "Address 1 - Street", "Labels",
           "Correo electrónico 1 - Valor", "Teléfono 1 - Valor", "Dirección 1 - Calle",
           "Dirección 1 - Con formato", "E-mail 1 - Valor", "Telefone 1 - Valor",
           "Endereço 1 - Rua", "Endereço 1 - Formatado", "Given Name", "Family Name"),
    name=["Name", "Nombre completo", "Nome completo"],
    name__given=["First Name", "Given Name", "Nombre", "Nome", "Nome próprio"],
    name__middle=["Middle Name", "Additional Name", "Segundo nombre", "Nome do meio",
                  "Segundo nome"],
    name__family=["Last Name", "Family Name", "Apellido", "Apellidos", "Sobrenome", "Apelido"],
    company__name=["Organization Name", "Organization 1 - Name",
                   "Nombre de la organización", "Organización 1 - Nombre",
                   "Nome da organização", "Organização 1 - Nome"],
    email=[f"{email} {n} - {value}" for n in (1, 2, 3)
           for email in ("E-mail", "Correo electrónico", "Email")
           for value in ("Value", "Valor")],
    phone=[f"{phone} {n} - {value}" for n in (1, 2, 3)
           for phone in ("Phone", "Teléfono", "Telefone")
           for value in ("Value", "Valor")],
    address__street=["Address 1 - Street", "Dirección 1 - Calle", "Endereço 1 - Rua"],
    address__street_2=["Address 1 - Extended Address", "Dirección 1 - Dirección ampliada",
                       "Endereço 1 - Endereço estendido"],
    address__city=["Address 1 - City", "Dirección 1 - Ciudad", "Endereço 1 - Cidade"],
    address__region=["Address 1 - Region", "Dirección 1 - Región", "Endereço 1 - Região"],
    address__postal_code=["Address 1 - Postal Code", "Dirección 1 - Código postal",
                          "Endereço 1 - Código postal", "Endereço 1 - CEP"],
    address__country=["Address 1 - Country", "Dirección 1 - País", "Endereço 1 - País"],
    address__full=["Address 1 - Formatted", "Dirección 1 - Con formato",
                   "Endereço 1 - Formatado"],
    company__website=["Website 1 - Value", "Sitio web 1 - Valor", "Site 1 - Valor"],
    tags=["Labels", "Group Membership", "Etiquetas", "Pertenencia a grupos", "Marcadores"],
    notes=["Notes", "Notas"],
    ignore=["Phonetic First Name", "Phonetic Middle Name", "Phonetic Last Name",
            "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Title",
            "Organization Department", "Organization 1 - Title", "Birthday", "Photo",
            "Yomi Name", "Given Name Yomi", "Additional Name Yomi", "Family Name Yomi",
            "Initials", "Short Name", "Maiden Name", "Location", "Billing Information",
            "Directory Server", "Mileage", "Occupation", "Hobby", "Sensitivity", "Priority",
            "Subject", "Prefijo del nombre", "Sufijo del nombre", "Apodo", "Archivar como",
            "Cumpleaños", "Foto", "Prefixo do nome", "Sufixo do nome", "Apelido",
            "Arquivar como", "Aniversário",
            *(f"{what} {n} - {label}" for n in (1, 2, 3)
              for what in ("E-mail", "Phone", "Address", "Organization", "Website",
                           "Correo electrónico", "Teléfono", "Dirección", "Telefone",
                           "Endereço")
              for label in ("Label", "Type", "Etiqueta", "Tipo", "Marcador"))],
)

# Outlook's "Comma Separated Values" export, whose headers follow Outlook's language.
OUTLOOK = _preset(
    "outlook", "Outlook",
    marks=("E-mail Address", "Business Street", "Home Street", "E-mail Display Name",
           "Business Phone", "Mobile Phone", "Dirección de correo electrónico",
           "Calle del trabajo", "Calle del domicilio", "Teléfono del trabajo",
           "Endereço de email", "Endereço de e-mail", "Rua comercial", "Rua residencial",
           "Telefone comercial", "Endereço de correio eletrónico", "Rua (emprego)"),
    name__given=["First Name", "Nombre", "Nome", "Nome próprio"],
    name__middle=["Middle Name", "Segundo nombre", "Segundo nome", "Nome do meio"],
    name__family=["Last Name", "Apellidos", "Sobrenome", "Apelido"],
    company__name=["Company", "Compañía", "Organización", "Empresa"],
    email=["E-mail Address", "E-mail 2 Address", "E-mail 3 Address",
           "Dirección de correo electrónico", "Dirección de correo electrónico 2",
           "Dirección de correo electrónico 3", "Endereço de email", "Endereço de e-mail",
           "Endereço de email 2", "Endereço de correio eletrónico",
           "Endereço de correio eletrónico 2"],
    phone=["Mobile Phone", "Business Phone", "Primary Phone", "Home Phone",
           "Teléfono móvil", "Teléfono del trabajo", "Teléfono principal",
           "Teléfono particular", "Celular", "Telefone comercial", "Telefone principal",
           "Telefone residencial", "Telemóvel", "Telefone (emprego)"],
    company__phone=["Company Main Phone", "Teléfono de la compañía",
                    "Telefone principal da empresa"],
    company__website=["Web Page", "Página web", "Página da Web", "Página Web"],
    gender=["Gender", "Sexo"],
    language=["Language", "Idioma"],
    address__street=["Business Street", "Home Street", "Calle del trabajo",
                     "Calle del domicilio", "Rua comercial", "Rua residencial",
                     "Rua (emprego)", "Rua (residência)"],
    address__street_2=["Business Street 2", "Calle del trabajo 2", "Rua comercial 2",
                       "Rua (emprego) 2"],
    address__street_3=["Business Street 3", "Calle del trabajo 3", "Rua comercial 3",
                       "Rua (emprego) 3"],
    address__city=["Business City", "Home City", "Ciudad de trabajo", "Ciudad del domicilio",
                   "Cidade comercial", "Cidade residencial", "Localidade (emprego)"],
    address__region=["Business State", "Home State", "Provincia o estado de trabajo",
                     "Provincia o estado del domicilio", "Estado comercial",
                     "Estado residencial", "Distrito (emprego)"],
    address__postal_code=["Business Postal Code", "Home Postal Code",
                          "Código postal del trabajo", "Código postal del domicilio",
                          "CEP comercial", "CEP residencial", "Código postal (emprego)"],
    address__country=["Business Country/Region", "Home Country/Region", "Business Country",
                      "Home Country", "País o región del trabajo",
                      "País o región del domicilio", "País/Região comercial",
                      "País/Região residencial", "País/Região (emprego)"],
    tags=["Categories", "Categorías", "Categorias"],
    notes=["Notes", "Notas"],
    ignore=["Title", "Suffix", "Initials", "Birthday", "Anniversary", "Job Title", "Department",
            "E-mail Display Name", "E-mail 2 Display Name", "E-mail Type", "Priority",
            "Sensitivity", "Private", "Tratamiento", "Sufijo", "Cumpleaños", "Aniversario",
            "Puesto", "Departamento", "Tratamento", "Sufixo", "Aniversário", "Cargo",
            "Nombre para mostrar del correo electrónico", "Nome para exibição do email",
            "Nickname", "Given Yomi", "Surname Yomi", "Company Yomi", "Home Phone 2",
            "Business Phone 2", "Car Phone", "Other Phone", "Pager", "Business Fax",
            "Home Fax", "Other Fax", "Callback", "Radio Phone", "Telex", "TTY/TDD Phone",
            "IMAddress", "Office Location", "Manager's Name", "Assistant's Name",
            "Assistant's Phone", "Home Street 2", "Home Street 3", "Other Street",
            "Other Street 2", "Other Street 3", "Other City", "Other State",
            "Other Postal Code", "Other Country/Region", "Personal Web Page", "Spouse",
            "Schools", "Hobby", "Location", "Children", "Referred By", "User 1", "User 2",
            "User 3", "User 4", "Keywords", "Mileage", "Billing Information",
            "Directory Server", "Initials", "Internet Free Busy", "E-mail Type",
            "E-mail 2 Type", "E-mail 3 Display Name", "E-mail 3 Type", "Account",
            "Organizational ID Number", "Profession", "Government ID Number",
            "Business Address PO Box", "Home Address PO Box", "Other Address PO Box",
            "ISDN", "Categories Yomi"],
)

# Odoo: the column labels in the exporting user's language, or the technical names
# when "I want to update data (import-compatible export)" is ticked.
ODOO = _preset(
    "odoo", "Odoo",
    marks=("Is a Company", "Es una empresa", "É uma empresa", "is_company", "company_type",
           "Company Type", "Tipo de compañía", "Tipo de empresa", "Street2", "Calle2",
           "Related Company", "Empresa relacionada", "country_id", "state_id", "vat",
           "street2", "category_id", "parent_id", "Display Name", "Nombre mostrado",
           "Nome exibido", "External ID", "ID externo", "Calle 2", "Rua 2"),
    name=["Name", "name", "Display Name", "display_name", "complete_name", "Nombre",
          "Nombre mostrado", "Nome", "Nome exibido", "Nom"],
    kind=["Company Type", "company_type", "Tipo de compañía", "Tipo de empresa",
          "Tipus d'empresa"],
    kind__is_company=["Is a Company", "is_company", "Es una empresa", "É uma empresa",
                      "És una empresa"],
    tax_id=["Tax ID", "vat", "NIF", "CIF/NIF", "NIF/CIF", "CNPJ/CPF", "Identificação fiscal"],
    email=["Email", "email", "Correo electrónico", "E-mail", "Correu electrònic"],
    phone=["Phone", "phone", "Mobile", "mobile", "Teléfono", "Móvil", "Telefone", "Celular",
           "Telemóvel", "Telèfon", "Mòbil"],
    address__street=["Street", "street", "Calle", "Rua", "Carrer"],
    address__street_2=["Street2", "street2", "Calle2", "Calle 2", "Rua 2", "Rua2", "Carrer 2"],
    address__city=["City", "city", "Ciudad", "Cidade", "Ciutat"],
    address__region=["State", "state_id", "Provincia", "Estado", "Província"],
    address__postal_code=["Zip", "zip", "C.P.", "Código postal", "CEP", "Codi postal"],
    country=["Country", "country_id", "country_id/id", "País"],
    language=["Language", "lang", "Idioma"],
    tags=["Tags", "category_id", "Etiquetas", "Marcadores", "Etiquetes"],
    company__name=["Related Company", "parent_id", "Company Name", "Empresa relacionada",
                   "Nombre de la empresa", "Nome da empresa", "Empresa relacionada"],
    company__website=["Website", "website", "Sitio web", "Site", "Website Link", "Lloc web"],
    notes=["Notes", "comment", "Notas", "Notes internes"],
    ignore=["External ID", "id", "ID externo", "ID", "Job Position", "function", "Title",
            "title", "Reference", "ref", "Salesperson", "user_id", "Puesto de trabajo",
            "Título", "Referencia", "Comercial", "Cargo", "Referência", "Vendedor",
            "Created on", "create_date", "Creado el", "Criado em", "Active", "active",
            "Activo", "Ativo"],
)

ZOHO = _preset(
    "zoho", "Zoho CRM",
    marks=("Record Id", "Contact Owner", "Account Owner", "Mailing Zip", "Billing Code",
           "Mailing Street", "Billing Street", "Email Opt Out", "Full Name", "Account Type",
           "Secondary Email", "Skype ID", "Modified Time", "Created Time",
           "Propietario de contacto", "Propietario de cuenta", "Calle de correo",
           "Código de facturación", "Nombre completo"),
    name=["Full Name", "Nombre completo", "Nome completo"],
    name__given=["First Name", "Nombre", "Nome"],
    name__family=["Last Name", "Apellidos", "Sobrenome"],
    company__name=["Account Name", "Nombre de cuenta", "Nome da conta"],
    email=["Email", "Secondary Email", "Correo electrónico", "Correo electrónico secundario"],
    phone=["Mobile", "Phone", "Móvil", "Teléfono", "Celular", "Telefone"],
    company__website=["Website", "Sitio web", "Site"],
    category=["Account Type", "Tipo de cuenta", "Tipo de conta"],
    address__street=["Mailing Street", "Billing Street", "Calle de correo",
                     "Calle de facturación", "Rua de correspondência", "Rua de cobrança"],
    address__city=["Mailing City", "Billing City", "Ciudad de correo", "Ciudad de facturación",
                   "Cidade de correspondência", "Cidade de cobrança"],
    address__region=["Mailing State", "Billing State", "Estado de correo",
                     "Estado de facturación", "Estado de correspondência",
                     "Estado de cobrança"],
    address__postal_code=["Mailing Zip", "Billing Code", "Código postal de correo",
                          "Código de facturación", "CEP de correspondência",
                          "Código de cobrança"],
    address__country=["Mailing Country", "Billing Country", "País de correo",
                      "País de facturación", "País de correspondência", "País de cobrança"],
    tags=["Tag", "Etiqueta"],
    notes=["Description", "Descripción", "Descrição"],
    ignore=["Record Id", "Contact Owner", "Account Owner", "Salutation", "Title", "Department",
            "Date of Birth", "Assistant", "Asst Phone", "Reports To", "Email Opt Out",
            "Created By", "Modified By", "Created Time", "Modified Time", "Last Activity Time",
            "Lead Source", "Skype ID", "Twitter", "Fax", "Home Phone", "Other Phone",
            "Rating", "Account Site", "Parent Account", "Account Number", "Ticker Symbol",
            "Ownership", "Industry", "Employees", "Annual Revenue", "SIC Code",
            "Other Street", "Other City", "Other State", "Other Zip", "Other Country",
            "Shipping Street", "Shipping City", "Shipping State", "Shipping Code",
            "Shipping Country", "Propietario de contacto", "Propietario de cuenta",
            "Saludo", "Título", "Departamento", "Fecha de nacimiento", "Creado por",
            "Modificado por", "Hora de creación", "Hora de modificación",
            "Fuente de Posible cliente", "Sector", "Empleados", "Ingresos anuales"],
)

# What a vCard file reads as (see vcards.py): the export's own headers, and its photo.
VCARD_PRESET = _preset("vcard", "vCard", marks=(), photo__data=["Photo"],
                       row__problem=["Problem"])

PRESETS = {preset.name: preset for preset in (
    HUBSPOT, SALESFORCE_ACCOUNTS, SALESFORCE_CONTACTS, GOOGLE_CONTACTS, OUTLOOK, ODOO, ZOHO)}
NAMES = tuple(PRESETS)


def unknown_preset(name):
    return ValidationFailed(
        Message("unknown_preset", "'{preset}' is not an import preset; use one of {presets}",
                {"preset": name, "presets": ", ".join(NAMES)}),
        {"preset": [Message("unknown_preset",
                            "'{preset}' is not an import preset; use one of {presets}",
                            {"preset": name, "presets": ", ".join(NAMES)})]},
        code="unknown_preset")


def check_preset(name):
    """A preset name as the API and command line send it (blank: detect it); 422
    (``unknown_preset``) for one that is not a preset."""
    if name is None or not str(name).strip():
        return None
    name = str(name).strip().lower()
    if name not in PRESETS:
        raise unknown_preset(name)
    return name


def detect(header):
    """The preset whose headers match ``header`` best, or ``None``: the most matching
    headers (at least MIN_MATCHES, one of them a mark), ties going to the preset
    that knows a larger share of the file's headers and then to the first listed."""
    keys = {header_key(title) for title in header if header_key(title)}
    best, best_score = None, (0, 0.0)
    for preset in PRESETS.values():
        known = keys & set(preset.headers)
        if len(known) < MIN_MATCHES or not known & set(preset.marks):
            continue
        marks = len(known & set(preset.marks))
        score = (len(known) + marks, len(known) / max(len(preset.headers), 1))
        if score > best_score:
            best, best_score = preset, score
    return best


def columns_for(table, mapping=None, preset=None):
    """The :class:`spreadsheets.Columns` of a table read as ``preset`` (a name), or as
    the preset :func:`detect` finds, or with the dictionary alone. A vCard file is
    always read as one (its columns are ours)."""
    if table.format == "vcf":
        chosen = VCARD_PRESET
    elif preset:
        chosen = PRESETS[check_preset(preset)]
    else:
        chosen = detect(table.header)
    columns = spreadsheets.match_headers(table.header, mapping,
                                         chosen.headers if chosen else None)
    columns.preset = chosen.name if chosen else None
    return columns
