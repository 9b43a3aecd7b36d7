"""The codes and English templates of the contacts service's messages (see
``services.common.messages``); translated in the gateway's ``errors`` catalogs."""
from services.common.errors import register

register({
    "not_found": ["no such client", "no such file", "no such import",
                  "no such merge for this client", "this client has no photo"],
    "file_missing": ["this file is missing from the file storage",
                     "this client's photo is missing from the file storage"],
    "already_exists": ["this client already exists"],
    "duplicate_tax_id": ["a client with this tax id already exists",
                         "the survivor and a merged client would share a tax id"],
    "client_archived": ["this client is archived; restore it before changing it"],
    "client_merged": ["this client was merged into {client_id}; it can be read but not changed",
                      "this client was merged into {client_id}: undo that merge (unmerge) to "
                      "bring it back"],
    "transition_not_allowed": ["this client is already archived", "this client is not archived",
                               "this client was not archived by that merge",
                               "a dry run changed nothing: there is nothing to revert",
                               "only a finished import can be reverted",
                               "this import was already reverted"],
    "version_mismatch": ["the client has changed since that version; read it again",
                         "the client is at version {current}, not {expected}; read it again"],
    "concurrent_modification": ["too many concurrent changes to this client; retry"],
    "invalid_if_match": ["the expected version must be a positive whole number"],
    "bad_request": ["client_ids must be a list of at most {max} ids"],
    "invalid_parameter": ["limit must be a whole number", "'{name}': {reason}",
                          "'cursor' and 'limit' must be whole numbers"],
    "unknown_parameter": ["not a parameter of this list"],
    "not_number": ["not a number"],
    "not_allowed_value": ["must be false, true or all", "must be {choices}"],
    "invalid_cursor": ["not a cursor of this sort (start again without it)"],
    "required": ["the name is required", "the id of the merge to undo is required",
                 "name the clients to merge into this one",
                 "attach the image in the multipart field 'file'",
                 "attach the file in the multipart field 'file'",
                 "attach the spreadsheet in the multipart field 'file'"],
    "body_required": ["send the image as the request body (or as the multipart field 'file')"],
    "unsupported_media_type": [
        "send the file as multipart/form-data, in the field 'file'",
        "send the spreadsheet as multipart/form-data, in the field 'file'",
        "a photo must be a PNG, JPEG or WebP image",
        "this kind of file is not accepted",
        "the name says .{extension} but the content is {content}",
        ".{extension} files are not accepted; accepted: {accepted}",
        "This file is not a spreadsheet we can read: send a CSV file (comma, semicolon or tab "
        "separated), a workbook (.xlsx, .xls or .ods) or a vCard file (.vcf).",
        "expected a .csv, .xlsx, .xls, .ods or .vcf file",
        "This file is named as an Excel 97-2003 workbook (.xls) but is not one we can read: "
        "open it in your spreadsheet program and save it again (as .xlsx, .xls or CSV).",
        "This OpenDocument spreadsheet (.ods) cannot be read: it is damaged or not a "
        "spreadsheet. Open it in your spreadsheet program and save it again."],
    "empty_file": ["The file is empty: it needs a header row and at least one row of clients.",
                   "the file is empty",
                   "This vCard file holds no contacts: it needs at least one BEGIN:VCARD ... "
                   "END:VCARD."],
    "no_header": ["We could not find a header row with column names such as Name, Email or "
                  "Tax ID in the first row of the file."],
    "invalid_mapping": ["must be a JSON object: column header -> field path"],
    "unknown_preset": ["'{preset}' is not an import preset; use one of {presets}"],
    "not_list": ["must be a list of labels"],
    "not_object": ["must be an object with the fields {names}"],
    "invalid_tag": ["a tag cannot contain ';' (it separates tags in spreadsheets)"],
    "too_many_items": ["at most {max} tags"],
    "invalid_country": ["not a known country (use a two-letter code such as ES, PT or FR)"],
    "invalid_language": ["not a known language (use a two-letter code such as es, pt or en)"],
    "invalid_tax_id": ["a tax id has at most {max} characters",
                       "a tax id can only contain letters and digits",
                       "not a valid {rule}", "not a valid {rule} or EU VAT number",
                       "not a valid EU VAT number for {country}",
                       "the current tax id does not fit the new country: {reason}"],
    "phone_needs_country": ["add the client's country, or write the number with its "
                            "international prefix (e.g. +34 612 34 56 78)"],
    "invalid_phone": ["not a valid phone number", "not a valid phone number for {country}"],
    "phone_extension": ["an E.164 number has no extension: leave out '{extension}' (write it "
                        "in the notes)"],
    "invalid_email": ["not a valid email address ({reason})"],
    "invalid_url": ["not a valid website (e.g. https://www.example.com)",
                    "only http:// and https:// websites are accepted"],
})

# The type check of a file to import names the file (spreadsheet.check_type).
register({
    "unsupported_media_type": [
        "{name} is not a spreadsheet we can read: send a CSV file (comma, semicolon or tab "
        "separated), a workbook (.xlsx, .xls or .ods) or a vCard file (.vcf).",
        "{name} is an {kind} file, which cannot be imported as it is: open it in your "
        "spreadsheet program, save it as an Excel workbook (.xlsx) or as CSV, and import "
        "that file."],
    "no_header": ["We could not find the column with the client's name: add a column called "
                  "Name (or Nombre, Nome, Nom) or map one to \"name\"."],
})

# Erasure (services/contacts/privacy.py, docs/privacy.md).
register({
    "client_erased": ["this client was erased at the request of the person it described"],
    "erasure_not_confirmed": ["type the client's id or legal name to confirm the erasure",
                              "does not match the client's id or legal name"],
    "client_merged": ["this client was merged into {client_id}; erase that client (which "
                      "erases the clients merged into it) or undo the merge first"],
    "import_running": ["an import of this workspace is running; erase the client once it has "
                       "finished"],
})
