"""The codes and English templates of the messages the kernel and the gateway write.

Each service registers its own in its ``messages`` module. A code names what went
wrong, for programs (the web app translates codes); a template is the English text,
whose ``{params}`` are filled in. Translations live in the gateway's ``errors``
catalogs (``gateway/locales/<locale>/LC_MESSAGES/errors.po``), one per template.
"""
from .errors import register

# The problem codes of the error classes, with the text a problem without its own
# detail answers.
register({
    "bad_request": ["Bad request", "the call context must name a workspace",
                    "stream_ids must be a list of at most {max} ids"],
    "not_found": ["Not found", "no such endpoint: {path}"],
    "conflict": ["Conflict"],
    "gone": ["Gone"],
    "version_mismatch": ["Precondition failed"],
    "validation_failed": ["Validation failed", "some fields are invalid"],
    "concurrent_modification": ["Concurrent modification",
                                "a concurrent writer appended to the stream first",
                                "the stream is not at the expected version"],
    "unauthorized": ["Unauthorized", "send 'Authorization: Bearer <token>'; create one with "
                                     "'clientfolio token create'",
                     "the token is unknown or revoked"],
    "forbidden": ["Forbidden", "this needs the {role} role; the token has {token_role}"],
    "payload_too_large": ["Payload too large", "requests are limited to {max} MiB",
                          "a photo can be at most {max} MiB", "a file can be at most {max} MiB",
                          "an import file can be at most {max} MiB"],
    "unsupported_media_type": ["Unsupported media type",
                               "send the body as JSON (Content-Type: application/json)"],
    "method_not_allowed": ["{method} is not allowed here; allowed: {allowed}"],
    "uri_too_long": ["the request line is too long (at most {max} bytes)"],
    "headers_too_large": ["the request headers are too large (at most {max} bytes per line)"],
    "internal_error": ["The server could not complete the request; it has been logged."],
    "service_unavailable": ["Service unavailable",
                            "a service this request needs cannot be reached now; retry shortly",
                            "a service did not answer in time; retry shortly"],
})

# The command path (services.common.application, context).
register({
    "version_mismatch": ["the resource has changed since that version; read it again"],
    "bad_request": ["a command id is a text of 1-{max} characters"],
})

# Request bodies and parameters (the gateway's JSON parser and parameter checks).
register({
    "body_required": ["the request needs a JSON body"],
    "malformed_json": ["the body is not valid JSON: {reason}"],
    "not_object": ["the body must be a JSON object", "must be a JSON object"],
    "json_too_deep": ["the JSON body is nested more than {max} levels deep"],
    "invalid_parameter": ["'{name}' must be a date (YYYY-MM-DD)",
                          "'{name}' must be an id (a UUID)",
                          "{name} must be true or false", "'{name}' must be true or false",
                          "{name} must be one of {choices}",
                          "limit must be from 1 to {max}", "malformed cursor",
                          "some parameters are invalid: {names}",
                          "'format' must be csv or xlsx"],
    "parameter_required": ["{name} is required"],
    "invalid_if_match": ['If-Match must be a version as given in ETag, e.g. "3"',
                         'expected a version such as "3"'],
    "invalid_consistency_token": ["malformed Consistency-Token", "expected source:position"],
    "idempotency_key_in_flight": ["a request with this Idempotency-Key is still in progress; "
                                  "retry in a moment"],
    "idempotency_key_reused": ["this Idempotency-Key was already used for a different request",
                               "reused with another method, path or body"],
    "invalid_idempotency_key": ["the Idempotency-Key is too long"],
    "invalid_cursor": ["not a cursor from a previous page"],
})

# Field messages every schema shares (services.common.schemas).
register({
    "required": ["this field is required", "required"],
    "not_empty": ["this field cannot be empty", "must not be blank"],
    "invalid": ["this value is not valid"],
    "unknown_field": ["this field is not recognised", "unknown field"],
    "read_only": ["this field is set by the system and cannot be changed"],
    "not_text": ["must be text", "must be a text"],
    "not_uuid": ["must be an id (a UUID)"],
    "not_integer": ["must be a whole number"],
    "not_number": ["must be a number"],
    "not_boolean": ["must be true or false", "true or false"],
    "not_date": ["must be a date written YYYY-MM-DD", "must be a date (YYYY-MM-DD)",
                 "must be a valid date written YYYY-MM-DD", "not a date"],
    "date_out_of_range": ["must be a date from {min} to {max}"],
    "not_datetime": ["must be a date and time (ISO 8601)"],
    "not_list": ["must be a list"],
    "invalid_email": ["not a valid email address"],
    "invalid_url": ["not a valid web address"],
    "too_long": ["must be at most {max} characters", "at most {max} characters"],
    "nul_character": ["must not contain NUL characters"],
    "invalid_unicode": ["must not contain unpaired surrogates (text that is not Unicode)"],
    "not_allowed_value": ["must be one of {choices}", "not a known value", "csv or xlsx"],
    "out_of_range": ["must be an integer from 1 to {max}"],
})
