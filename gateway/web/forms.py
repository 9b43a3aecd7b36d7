"""The client form: what a browser posts, turned into the JSON the contacts service takes
(the service alone judges it), and a stored client turned back into form values."""

# Form field names are the API's field paths ("address.city"), so the errors the
# service reports by path land next to their field.
FIELDS = ("kind", "name", "tax_id", "country", "email", "phone", "gender", "category",
          "language", "tags", "notes",
          "address.street", "address.postal_code", "address.city", "address.region",
          "company.name", "company.website", "company.email", "company.phone")
GENDERS = ("female", "male", "non-binary", "undisclosed")


def form_values(form):
    """The posted values as typed (stripped), keyed by field path."""
    return {name: (form.get(name) or "").strip() for name in FIELDS}


def client_data(values, for_update=False):
    """JSON for create (blank fields left out) or update (blank fields cleared: None)."""
    data = {}
    for name in FIELDS:
        value = values.get(name, "")
        if name == "tags":
            value = [tag.strip() for tag in value.split(",") if tag.strip()]
            if value or for_update:
                data["tags"] = value
            continue
        if not value:
            if not for_update or name == "kind":
                continue
            value = None  # cleared (a blank name is refused by the service, as it should)
        if "." in name:
            part, field = name.split(".", 1)
            data.setdefault(part, {})[field] = value
        else:
            data[name] = value
    for part in ("address", "company"):
        if part in data and all(value is None for value in data[part].values()):
            data[part] = None
    return data


def values_of(client):
    """Form values of a stored client."""
    values = {}
    for name in FIELDS:
        if "." in name:
            part, field = name.split(".", 1)
            value = (client.get(part) or {}).get(field)
        elif name == "tags":
            value = ", ".join(client.get("tags") or [])
        else:
            value = client.get(name)
        values[name] = "" if value is None else str(value)
    return values


def flat_errors(errors, prefix=""):
    """``{"address": {"city": ["..."]}}`` -> ``{"address.city": ["..."]}``."""
    flat = {}
    for key, value in (errors or {}).items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_errors(value, f"{path}."))
        elif isinstance(value, (list, tuple)):
            messages = []
            for item in value:
                if isinstance(item, dict):
                    flat.update(flat_errors(item, f"{path}."))
                else:
                    messages.append(str(item))
            if messages:
                flat[path] = messages
        else:
            flat[path] = [str(value)]
    return flat
