"""Aggregates say which method applies which event type (``@applies``), explicitly."""
import pytest

from services.billing.domain import Invoice, PurchaseOrder, Quote
from services.common.aggregate import Aggregate, applies
from services.contacts.domain import Client, Merge
from services.projects.domain import Project


class Counter(Aggregate):
    def __init__(self, aggregate_id):
        super().__init__(aggregate_id)
        self.count = 0

    def add(self, amount):
        self._record("Added", {"amount": amount})

    @applies("Added")
    def added(self, data):
        self.count += data["amount"]

    def apply_removed(self, data):  # not marked: applies nothing
        self.count -= data["amount"]


def test_the_marked_method_applies_its_event_when_recorded_and_replayed():
    counter = Counter("c-1")
    counter.add(2)
    counter.add(3)
    assert counter.count == 5 and [e.type for e in counter.pending] == ["Added", "Added"]

    class Stored:
        type, data, stream_version = "Added", {"amount": 4}, 1

    assert Counter.rehydrate("c-1", [Stored]).count == 4


def test_an_event_type_nothing_applies_is_refused_when_applied():
    with pytest.raises(TypeError, match="Counter cannot apply Removed"):
        Counter("c-1")._record("Removed", {"amount": 1})


def test_two_methods_applying_one_event_type_are_refused_when_the_class_is_made():
    with pytest.raises(TypeError, match="Twice: both first and second apply Added"):
        class Twice(Aggregate):
            @applies("Added")
            def first(self, data):
                pass

            @applies("Added")
            def second(self, data):
                pass


def test_a_subclass_inherits_and_may_override_what_its_base_applies():
    class Doubling(Counter):
        @applies("Added")
        def added_twice(self, data):
            self.count += 2 * data["amount"]

    doubling = Doubling("d-1")
    doubling.add(3)
    assert doubling.count == 6 and Counter.appliers == {"Added": "added"}


@pytest.mark.parametrize("aggregate, types", [
    (Client, {"ClientRegistered", "ClientUpdated", "ClientArchived", "ClientRestored",
              "ClientPhotoChanged", "ClientFileAttached", "ClientFileRemoved",
              "ClientErased"}),
    (Merge, {"ClientsMerged", "ClientsUnmerged"}),
    (Project, {"ProjectCreated", "ProjectUpdated", "ClientAssigned", "ClientUnassigned",
               "TimeLogged", "TaskAdded", "TaskUpdated"}),
    (Invoice, {"InvoiceDrafted", "InvoiceDraftUpdated", "InvoiceIssued",
               "InvoicePaymentRecorded", "InvoicePaid", "InvoiceVoided",
               "InvoiceClientChanged"}),
    (PurchaseOrder, {"PurchaseOrderPlaced", "PurchaseOrderFinalized",
                     "PurchaseOrderClientChanged"}),
    (Quote, {"QuoteCreated", "QuoteStatusChanged", "QuoteClientChanged"}),
])
def test_each_service_aggregate_declares_the_events_it_applies(aggregate, types):
    assert set(aggregate.appliers) == types
    assert all(callable(getattr(aggregate, name)) for name in aggregate.appliers.values())
