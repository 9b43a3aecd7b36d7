"""The ``clientfolio`` command line.

    clientfolio run                       start every service and the gateway (make run)
    clientfolio serve SERVICE             run one service in this process (containers)
    clientfolio migrate [SERVICE ...]     apply database migrations
    clientfolio token create --workspace NAME --role ROLE [--label TEXT]
    clientfolio token list [--workspace NAME] | token revoke TOKEN_ID
    clientfolio dead-letters list|retry [--consumer NAME] [--id N ...]
    clientfolio overview rebuild [--keep-old]
    clientfolio user create --workspace W --email E --role ROLE | user list | user disable E
    clientfolio workspace set --workspace W --language es|pt-PT|pt-BR|ca|en
    clientfolio clients export|import FILE --workspace W [--mode upsert] [--dry-run]
    clientfolio webhooks create|list|show|enable|disable|delete|rotate-secret|deliveries|redeliver
"""
import argparse
import json
import re
import sys

SERVICES = ("contacts", "projects", "billing", "gateway")
# A workspace name is stored in every service's String(100) columns and printed in log
# lines and shell commands: plain ASCII, no spaces or slashes ("demo", "ws-abc123").
WORKSPACE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


class UsageError(Exception):
    """A problem with what the user typed: printed as one line, exit code 2."""


def _prepare(args):
    # Green the standard library before anything imports sockets or threads.
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()
    from services.common.config import load_config

    return load_config(getattr(args, "config", None))


def cmd_serve(args):
    config = _prepare(args)
    from .serve import serve

    return serve(args.service, config)


def cmd_migrate(args):
    config = _prepare(args)
    from services.common.config import database_url

    from .registry import migrate_function

    unknown = set(args.services) - set(SERVICES)
    if unknown:
        raise UsageError(f"unknown service {', '.join(sorted(unknown))}; "
                         f"choose among {', '.join(SERVICES)}")
    for service in args.services or SERVICES:
        migrate_function(service)(database_url(config, service))
        print(f"{service}: migrated")
    return 0


def _gateway_database(config):
    from services.common.config import database_url
    from services.common.db import get_database

    from .registry import migrate_function

    url = database_url(config, "gateway")
    migrate_function("gateway")(url)
    return get_database(url)


def check_workspace(name):
    if not WORKSPACE_NAME.fullmatch(name):
        raise UsageError(f"invalid workspace name {name!r}: use 1-100 letters, digits, "
                         "'-', '_' or '.'")


def cmd_token(args):
    if args.action == "create":  # checked before any database is opened or migrated
        if not args.workspace or not args.role:
            raise UsageError("token create needs --workspace NAME and --role admin|member|viewer")
        check_workspace(args.workspace)
    config = _prepare(args)
    from gateway import auth

    database = _gateway_database(config)
    if args.action == "create":
        try:
            _, token = auth.create_token(database, args.workspace, args.role, args.label)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        print(token)
    elif args.action == "list":
        for row in auth.list_tokens(database, args.workspace):
            print(json.dumps(row))
    elif args.action == "revoke":
        if not args.token_id:
            raise UsageError("token revoke needs the token id (see 'clientfolio token list')")
        if not auth.revoke_token(database, args.token_id):
            raise UsageError(f"no token with id {args.token_id}")
        print(f"revoked {args.token_id}")
    return 0


def cmd_user(args):
    if args.action == "create":
        if not args.workspace or not args.email or not args.role:
            raise UsageError("user create needs --workspace NAME --email ADDRESS "
                             "--role admin|member|viewer")
        check_workspace(args.workspace)
    if args.action == "disable" and not (args.email or args.target):
        raise UsageError("user disable needs the email address")
    config = _prepare(args)
    from gateway import people

    database = _gateway_database(config)
    try:
        if args.action == "create":
            password = None
            if not sys.stdin.isatty():  # the password on stdin (one line), else a link
                password = sys.stdin.readline().rstrip("\r\n") or None
            user = people.create_user(database, args.workspace, args.email, args.role,
                                      password, replace=args.replace)
            if password is None and not args.replace:
                token = people.create_password_link(database, user.email)
                print(f"{args.url.rstrip('/')}/set-password?token={token}")
            else:
                print(f"{user.email} is {args.role} of {args.workspace}")
        elif args.action == "list":
            for row in people.list_users(database, args.workspace):
                print(json.dumps(row))
        elif args.action == "disable":
            email = args.email or args.target
            if not people.disable_user(database, email):
                raise UsageError(f"no user {email}")
            print(f"disabled {email}")
    except people.PeopleError as exc:
        raise UsageError(str(exc)) from None
    return 0


def cmd_workspace(args):
    check_workspace(args.workspace)
    config = _prepare(args)
    from gateway import people
    from gateway.web import i18n

    locale = i18n.supported(args.language)
    if locale is None:
        raise UsageError(f"--language must be one of {', '.join(i18n.LANGUAGES)}")
    people.set_workspace_locale(_gateway_database(config), args.workspace, locale)
    print(f"{args.workspace}: the web app speaks {i18n.LANGUAGES[locale]} by default")
    return 0


def cmd_dead_letters(args):
    config = _prepare(args)
    from services.common.config import database_url
    from services.common.db import get_database
    from services.common.inbox import Inbox

    from .registry import CONSUMERS, consumer_handlers, migrate_function

    if args.consumer not in CONSUMERS:
        raise UsageError(f"--consumer must be one of {', '.join(CONSUMERS)}")
    url = database_url(config, args.consumer)
    migrate_function(args.consumer)(url)
    if args.consumer == "gateway":
        from gateway.readmodel import read_model_for

        inbox = read_model_for(get_database(url)).inbox()
    else:
        inbox = Inbox(get_database(url), args.consumer, consumer_handlers(args.consumer))
    if args.action == "list":
        letters = inbox.dead_letters(include_resolved=args.all)
        for letter in letters:
            print(json.dumps(letter, ensure_ascii=False, default=str))
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
    else:
        outcome = inbox.retry_dead_letters(set(args.id) if args.id else None)
        for letter_id, result in outcome.items():
            print(f"{letter_id}: {result}")
        unknown = sorted(set(args.id or ()) - set(outcome))
        if unknown:  # resolved ones are not retried either: the list shows them with --all
            raise UsageError(f"no unresolved dead letter with id {', '.join(map(str, unknown))} "
                             f"for {args.consumer}")
        if not outcome:
            print("nothing to retry: no unresolved dead letters", file=sys.stderr)
        if any(result != "applied" for result in outcome.values()):
            return 1
    return 0


def cmd_overview(args):
    config = _prepare(args)
    from gateway.rebuild import rebuild

    database = _gateway_database(config)
    rebuild(database, config, keep_old=args.keep_old)
    return 0


def cmd_run(args):
    from .supervisor import run

    return run(args)


def build_parser():
    parser = argparse.ArgumentParser(prog="clientfolio", description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="nameko YAML config (default: the packaged one)")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="start every service and the gateway")
    run.add_argument("--no-demo", action="store_true", help="do not seed the demo workspace")
    run.set_defaults(func=cmd_run)

    serve = commands.add_parser("serve", help="run one service in this process")
    serve.add_argument("service", choices=SERVICES)
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*", metavar="SERVICE",
                         help="contacts, projects, billing, gateway (default: all)")
    migrate.set_defaults(func=cmd_migrate)

    token = commands.add_parser("token", help="API tokens")
    token.add_argument("action", choices=("create", "list", "revoke"))
    token.add_argument("token_id", nargs="?")
    token.add_argument("--workspace")
    token.add_argument("--role", choices=("admin", "member", "viewer"))
    token.add_argument("--label")
    token.set_defaults(func=cmd_token)

    overview = commands.add_parser("overview", help="the per-client overview read model")
    overview.add_argument("action", choices=("rebuild",))
    overview.add_argument("--keep-old", action="store_true",
                          help="keep the previous generation's tables")
    overview.set_defaults(func=cmd_overview)

    user = commands.add_parser("user", help="people who sign in to the web app")
    user.add_argument("action", choices=("create", "list", "disable"))
    user.add_argument("target", nargs="?", help="disable: the email address")
    user.add_argument("--workspace")
    user.add_argument("--email")
    user.add_argument("--role", choices=("admin", "member", "viewer"))
    user.add_argument("--url", default="http://127.0.0.1:8000",
                      help="the app's address, for the set-password link")
    user.add_argument("--replace", action="store_true",
                      help="if the user exists: set this role and password, enable it again")
    user.set_defaults(func=cmd_user)

    workspace = commands.add_parser("workspace", help="a workspace's settings")
    workspace.add_argument("action", choices=("set",))
    workspace.add_argument("--workspace", required=True)
    workspace.add_argument("--language", required=True,
                           help="the web app's language when neither the person nor the "
                                "browser chose one: en, es, pt-PT, pt-BR, ca")
    workspace.set_defaults(func=cmd_workspace)

    letters = commands.add_parser("dead-letters", help="parked messages of a consumer")
    letters.add_argument("action", choices=("list", "retry"))
    letters.add_argument("--consumer", default="gateway")
    letters.add_argument("--id", type=int, action="append", help="only this dead letter")
    letters.add_argument("--all", action="store_true", help="list resolved ones too")
    letters.set_defaults(func=cmd_dead_letters)

    from .clients_cli import register as register_clients

    register_clients(commands)
    from .webhooks_cli import register as register_webhooks

    register_webhooks(commands)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except UsageError as exc:
        print(f"clientfolio: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
