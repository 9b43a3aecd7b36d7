"""Where each process's service class, migrations and event handlers live."""
import importlib

SERVICE_CLASSES = {
    "contacts": "services.contacts.service:ContactsService",
    "projects": "services.projects.service:ProjectsService",
    "billing": "services.billing.service:BillingService",
    "gateway": "gateway.service:GatewayService",
}

# Consumers (inbox owners): the service class attribute of their consumer, whose
# handlers `dead-letters retry` applies (the gateway's: its live read model's inbox).
CONSUMERS = {"gateway": None, "contacts": "consumer", "projects": "replica",
             "billing": "consumer"}


def load(path):
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def service_class(name):
    return load(SERVICE_CLASSES[name])


def consumer_handlers(name):
    """The event handlers the consumer of service ``name`` applies."""
    return getattr(service_class(name), CONSUMERS[name]).handlers


def migrate_function(name):
    return importlib.import_module(SERVICE_CLASSES[name].partition(":")[0]).migrate
