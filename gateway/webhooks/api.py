"""``/api/v1/webhooks`` (admins) and ``/api/v1/events`` (the change feed)."""
from services.common.errors import BadRequest, ValidationFailed
from services.common.web import json_response

from ..http import api, if_match, json_body, resource
from . import feed, subscriptions
from .subscriptions import ALL_EVENT_TYPES, parse_time


def _written(subscription, status=200, location=False):
    headers = {"ETag": f'"{subscription["version"]}"'}
    if location:
        headers["Location"] = f"/api/v1/webhooks/{subscription['id']}"
    return json_response(subscription, status, headers)


def _optional_body(request):
    """A JSON object body, or ``{}`` when none was sent."""
    if not request.get_data(cache=True):
        return {}
    return json_body(request)


class WebhooksApi:
    @api("GET", "/api/v1/webhooks/event-types", role="admin")
    def list_webhook_event_types(self, request, principal):
        return resource({"items": sorted(ALL_EVENT_TYPES)})

    @api("POST", "/api/v1/webhooks", role="admin")
    def create_webhook(self, request, principal):
        created = subscriptions.create(self.webhooks.database, principal.workspace,
                                       json_body(request), self.webhooks.policy)
        return _written(created, 201, location=True)

    @api("GET", "/api/v1/webhooks", role="admin")
    def list_webhooks(self, request, principal):
        return resource(subscriptions.list_all(
            self.webhooks.database, principal.workspace, request.args.get("limit"),
            request.args.get("cursor")))

    @api("GET", "/api/v1/webhooks/<string:webhook_id>", role="admin")
    def get_webhook(self, request, principal, webhook_id):
        return resource(subscriptions.get(self.webhooks.database, principal.workspace,
                                          webhook_id))

    @api("PATCH", "/api/v1/webhooks/<string:webhook_id>", role="admin")
    def update_webhook(self, request, principal, webhook_id):
        changed = subscriptions.change(self.webhooks.database, principal.workspace,
                                       webhook_id, json_body(request), self.webhooks.policy,
                                       if_match(request))
        return _written(changed)

    @api("DELETE", "/api/v1/webhooks/<string:webhook_id>", role="admin")
    def delete_webhook(self, request, principal, webhook_id):
        subscriptions.remove(self.webhooks.database, principal.workspace, webhook_id)
        return _no_content()

    @api("POST", "/api/v1/webhooks/<string:webhook_id>/rotate-secret", role="admin")
    def rotate_webhook_secret(self, request, principal, webhook_id):
        body = _optional_body(request)
        unknown = sorted(set(body) - {"overlap_seconds"})
        if unknown:
            raise ValidationFailed("some fields are invalid",
                                   {name: ["this field is not recognised"] for name in unknown})
        return _written(subscriptions.rotate_secret(
            self.webhooks.database, principal.workspace, webhook_id,
            body.get("overlap_seconds")))

    @api("GET", "/api/v1/webhooks/<string:webhook_id>/deliveries", role="admin")
    def list_webhook_deliveries(self, request, principal, webhook_id):
        return resource(subscriptions.deliveries(
            self.webhooks.database, principal.workspace, webhook_id,
            request.args.get("status"), request.args.get("limit"), request.args.get("cursor")))

    @api("GET", "/api/v1/webhooks/<string:webhook_id>/deliveries/<string:delivery_id>",
         role="admin")
    def get_webhook_delivery(self, request, principal, webhook_id, delivery_id):
        return resource(subscriptions.delivery(self.webhooks.database, principal.workspace,
                                               webhook_id, delivery_id))

    @api("POST",
         "/api/v1/webhooks/<string:webhook_id>/deliveries/<string:delivery_id>/redeliver",
         role="admin")
    def redeliver_webhook_delivery(self, request, principal, webhook_id, delivery_id):
        return json_response(subscriptions.redeliver_one(
            self.webhooks.database, principal.workspace, webhook_id, delivery_id), 202)

    @api("POST", "/api/v1/webhooks/<string:webhook_id>/redeliver", role="admin")
    def redeliver_webhook_since(self, request, principal, webhook_id):
        body = json_body(request)
        unknown = sorted(set(body) - {"since"})
        if unknown:
            raise ValidationFailed("some fields are invalid",
                                   {name: ["this field is not recognised"] for name in unknown})
        if body.get("since") is None:
            raise ValidationFailed("some fields are invalid",
                                   {"since": ["this field is required"]})
        if not isinstance(body["since"], str):
            raise ValidationFailed("some fields are invalid", {"since": ["must be text"]})
        try:
            since = parse_time(body["since"], "since")
        except BadRequest as exc:  # a field of the body: 422 like the others
            raise ValidationFailed("some fields are invalid", exc.field_messages()) from None
        count = subscriptions.redeliver_since(self.webhooks.database, principal.workspace,
                                              webhook_id, since)
        return json_response({"redelivered": count}, 202)

    @api("GET", "/api/v1/events")
    def list_events_feed(self, request, principal):
        return resource(feed.read(self.webhooks.database, principal.workspace,
                                  request.args.get("after"), request.args.get("limit")))


def _no_content():
    from werkzeug.wrappers import Response

    return Response(status=204)
