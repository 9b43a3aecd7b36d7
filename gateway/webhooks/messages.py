"""The codes and English templates of the webhooks' and the change feed's messages."""
from services.common import times
from services.common.errors import message

NOT_URL = message("invalid_url", "not a valid web address")
NOT_HTTPS = message("webhook_url_not_https", "a webhook address must start with https://")
URL_TOO_LONG = message("too_long", "must be at most {max} characters")
UNRESOLVED = message("webhook_host_unresolved", "the host {host} could not be resolved")
PRIVATE_TARGET = message("webhook_target_private",
                         "{host} is a loopback or private network address; webhooks go "
                         "only to public addresses")
UNKNOWN_EVENT_TYPE = message("unknown_event_type", "unknown event type {type}")
EVENT_TYPES_REQUIRED = message("event_types_required",
                               "name at least one event type, or \"*\" for all")
NOT_FOUND = message("not_found", "no webhook subscription {id}")
DELIVERY_NOT_FOUND = message("not_found", "no delivery {id} of this subscription")
BAD_TIME = times.BAD_TIME
BAD_FEED_CURSOR = message("invalid_cursor", "not a cursor of this feed")
BAD_OVERLAP = message("out_of_range", "must be an integer from 0 to {max}")
DISABLED_AFTER_FAILURES = message(
    "webhook_disabled_after_failures",
    "deliveries kept failing for {hours} hours; last error: {error}")
BAD_TIME_PARAMETER = times.BAD_TIME_PARAMETER
