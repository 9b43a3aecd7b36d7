"""Where each process's service class, migrations and event handlers live."""
import importlib

SERVICE_CLASSES = {
    "contacts": "services.contacts.service:ContactsService",
    "projects": "services.projects.service:ProjectsService",
    "billing": "services.billing.service:BillingService",
    "gateway": "gateway.service:GatewayService",
}

# Consumers (inbox owners) and the handlers they apply: used by `dead-letters`.
CONSUMER_HANDLERS = {
    "gateway": None,  # the live read-model generation's inbox (gateway.readmodel)
    "contacts": "services.contacts.timeline:HANDLERS",
    "projects": "services.projects.replica:HANDLERS",
    "billing": "services.billing.replica:HANDLERS",
}


def load(path):
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def service_class(name):
    return load(SERVICE_CLASSES[name])


def migrate_function(name):
    return importlib.import_module(SERVICE_CLASSES[name].partition(":")[0]).migrate
