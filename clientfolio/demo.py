"""The ``demo`` workspace seeded by ``make run`` so a newcomer sees data at once."""
import json
import urllib.request

DEMO_CLIENTS = [
    {"name": "Alan Insurance", "kind": "company",
     "email": "finance@alan-insurance.example"},
    {"name": "São Paulo Seguros", "kind": "company", "email": "contato@sps.example"},
    {"name": "Fundació Catalana de Disseny", "kind": "company",
     "email": "hola@fcd.example"},
]


def _request(method, url, token, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json",
        **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null"), dict(response.headers)


def seed_demo(gateway_url, token):
    """Create the demo clients once (idempotent across runs); return the first one."""
    first = None
    for index, client in enumerate(DEMO_CLIENTS):
        created, _ = _request("POST", f"{gateway_url}/api/v1/clients", token, client,
                              {"Idempotency-Key": f"demo-client-{index}"})
        if first is None:
            first = {"client_id": created["id"], "name": created["name"]}
    return first
