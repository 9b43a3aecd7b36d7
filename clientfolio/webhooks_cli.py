"""``clientfolio webhooks ...``: a workspace's webhook subscriptions from a shell.

    clientfolio webhooks create --workspace W --url URL --events TYPE[,TYPE...] [--description T]
    clientfolio webhooks list --workspace W
    clientfolio webhooks show ID --workspace W
    clientfolio webhooks enable|disable ID --workspace W
    clientfolio webhooks delete ID --workspace W
    clientfolio webhooks rotate-secret ID --workspace W [--overlap-hours H]
    clientfolio webhooks deliveries ID --workspace W [--status S] [--limit N]
    clientfolio webhooks redeliver ID --workspace W (--delivery N | --since TIME)

They work on the gateway's database, as ``token`` does, with the same rules as the
API (``/api/v1/webhooks``); each prints JSON lines. ``create`` and ``rotate-secret``
print the signing secret (``whsec_...``) for the receiver.
"""
import json
import sys

ACTIONS = ("create", "list", "show", "enable", "disable", "delete", "rotate-secret",
           "deliveries", "redeliver")


def register(commands):
    webhooks = commands.add_parser("webhooks", help="a workspace's webhook subscriptions")
    webhooks.add_argument("action", choices=ACTIONS)
    webhooks.add_argument("id", nargs="?", help="the subscription's id")
    webhooks.add_argument("--workspace", required=True)
    webhooks.add_argument("--url")
    webhooks.add_argument("--events", help="event types, comma-separated, or * for all")
    webhooks.add_argument("--description")
    webhooks.add_argument("--overlap-hours", type=float, default=24.0,
                          help="rotate-secret: hours the previous secret still signs")
    webhooks.add_argument("--status", help="deliveries: pending, delivered, failed, cancelled")
    webhooks.add_argument("--limit", type=int, default=50)
    webhooks.add_argument("--delivery", help="redeliver: this delivery")
    webhooks.add_argument("--since", help="redeliver: every event since this RFC 3339 time")
    webhooks.set_defaults(func=cmd_webhooks)


def _print(value):
    print(json.dumps(value, ensure_ascii=False))


def _problem(exc):
    """One line per field error after the problem's detail."""
    lines = [exc.detail or exc.title]
    for field, texts in sorted(exc.errors.items()):
        lines += [f"  {field}: {text}" for text in texts]
    return "\n".join(lines)


def cmd_webhooks(args):
    from .cli import WORKSPACE_NAME, _gateway_database, _prepare

    problem = None
    if not WORKSPACE_NAME.fullmatch(args.workspace):
        problem = (f"invalid workspace name {args.workspace!r}: use 1-100 letters, digits, "
                   "'-', '_' or '.'")
    elif args.action not in ("create", "list") and not args.id:
        problem = (f"webhooks {args.action} needs the subscription's id "
                   "(see 'clientfolio webhooks list')")
    elif args.action == "create" and (not args.url or not args.events):
        problem = "webhooks create needs --url URL and --events TYPE[,TYPE...]"
    elif args.action == "redeliver" and bool(args.delivery) == bool(args.since):
        problem = "webhooks redeliver needs either --delivery N or --since TIME"
    if problem:
        print(f"clientfolio: {problem}", file=sys.stderr)
        return 2
    config = _prepare(args)
    from gateway.webhooks import subscriptions as subs
    from gateway.webhooks.targets import TargetPolicy
    from services.common.errors import ClientfolioError

    database = _gateway_database(config)
    policy = TargetPolicy.from_config(config)
    workspace = args.workspace
    try:
        if args.action == "create":
            body = {"url": args.url,
                    "event_types": [t.strip() for t in args.events.split(",") if t.strip()]}
            if args.description is not None:
                body["description"] = args.description
            _print(subs.create(database, workspace, body, policy))
        elif args.action == "list":
            cursor = None
            while True:
                page = subs.list_all(database, workspace, 500, cursor)
                for item in page["items"]:
                    _print(item)
                cursor = page["next_cursor"]
                if not cursor:
                    break
        elif args.action == "show":
            _print(subs.get(database, workspace, args.id))
        elif args.action in ("enable", "disable"):
            _print(subs.change(database, workspace, args.id,
                               {"enabled": args.action == "enable"}, policy))
        elif args.action == "delete":
            subs.remove(database, workspace, args.id)
            print(f"deleted {args.id}")
        elif args.action == "rotate-secret":
            _print(subs.rotate_secret(database, workspace, args.id,
                                      int(args.overlap_hours * 3600)))
        elif args.action == "deliveries":
            page = subs.deliveries(database, workspace, args.id, args.status,
                                   min(max(args.limit, 1), 500))
            for item in page["items"]:
                _print(item)
        elif args.action == "redeliver":
            if args.delivery:
                _print(subs.redeliver_one(database, workspace, args.id, args.delivery))
            else:
                since = subs.parse_time(args.since, "since")
                print(f"{subs.redeliver_since(database, workspace, args.id, since)} "
                      "event(s) to deliver again")
    except ClientfolioError as exc:  # what the API answers 4xx: one clear message, exit 2
        print(f"clientfolio: {_problem(exc)}", file=sys.stderr)
        return 2
    return 0
