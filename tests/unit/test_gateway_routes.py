"""The gateway is composed of one mixin per area: no mixin may hide another's endpoint."""
import inspect

from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR

from gateway.service import GatewayService


def test_no_endpoint_method_is_shadowed_by_another_mixin():
    owners = {}
    for cls in GatewayService.__mro__[1:]:
        for name, member in vars(cls).items():
            if inspect.isfunction(member) and getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, None):
                owners.setdefault(name, []).append(cls.__name__)
    shadowed = {name: classes for name, classes in owners.items() if len(classes) > 1}
    assert shadowed == {}


def test_every_route_of_the_contract_is_served():
    routes = set()
    for _, member in inspect.getmembers(GatewayService, inspect.isfunction):
        for entrypoint in getattr(member, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if hasattr(entrypoint, "url"):
                routes.add((entrypoint.method, entrypoint.url))
    expected = {
        ("POST", "/api/v1/clients"), ("GET", "/api/v1/clients"),
        ("GET", "/api/v1/clients/<string:client_id>/overview"),
        ("POST", "/api/v1/projects"), ("POST", "/api/v1/projects/assign-client"),
        ("POST", "/api/v1/invoices"), ("GET", "/api/v1/invoices"), ("GET", "/api/v1/tasks"),
        ("POST", "/api/v1/quotes"), ("POST", "/api/v1/purchase-orders"),
        ("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics"),
        ("GET", "/api/v1/openapi.json"),
    }
    assert expected <= routes
