"""``clientfolio clients export|import|erase``: bulk export and import from a shell, and
a client's erasure (``erasure_cli``).

    clientfolio clients export FILE --workspace W [--format csv|xlsx|vcf] [--q ...]
    clientfolio clients import FILE --workspace W [--mode create|upsert] [--dry-run]
                                    [--mapping JSON] [--blank-cells keep|clear]
                                    [--preset NAME] [--errors FILE]
    clientfolio clients erase CLIENT_ID --workspace W --confirm "<legal name or id>"
    clientfolio clients erase --restored [--workspace W]

Both talk to the contacts service over RPC (the config's ``AMQP_URI``), exactly as the
HTTP API does, and print progress lines on stderr. An import is a job of the contacts
service: interrupting this command does not stop it (it is resumed if the service
restarts); the command only follows it.
"""
import functools
import json
import os
import sys
import time

from services.common.errors import ClientfolioError
from services.contacts.client import exports, spreadsheet, vcards
from services.contacts.client.limits import MiB, import_max_bytes
from services.contacts.client.parts import read_parts, send_file

POLL_SECONDS = 0.5


def _bar(done, total, width=30):
    if not total:
        return f"[{'?' * width}] {done}"
    filled = int(width * done / total)
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({100 * done // total}%)"


def _proxy(config):
    from nameko.standalone.rpc import ClusterRpcProxy

    return ClusterRpcProxy({"AMQP_URI": config["AMQP_URI"]}, timeout=600)


def _context(args):
    return {"workspace": args.workspace, "actor": "cli", "correlation_id": None}


def _plain_errors(command):
    """What went wrong, in a line or two on ``out`` and an exit code, never a traceback:
    2 for what the user can fix (the file, a filter), 1 when a service is missing."""
    @functools.wraps(command)
    def run(args, config, out=sys.stderr):
        from nameko.exceptions import RemoteError, UnknownService

        try:
            return command(args, config, out=out)
        except ClientfolioError as exc:  # the service refused the request (4xx over HTTP)
            print(f"clientfolio: {exc.detail or exc.title}", file=out, flush=True)
            for field, messages in sorted((exc.errors or {}).items()):
                for message in messages if isinstance(messages, list) else [messages]:
                    if message != exc.detail:
                        print(f"  {field}: {message}", file=out, flush=True)
            return 2
        except UnknownService:
            print("clientfolio: the contacts service is not running on this broker "
                  "(start the services, e.g. with `make run`)", file=out, flush=True)
            return 1
        except ConnectionError as exc:
            print(f"clientfolio: cannot reach RabbitMQ ({exc}); check AMQP_URI", file=out,
                  flush=True)
            return 1
        except OSError as exc:  # the file: missing, a directory, not readable or writable
            print(f"clientfolio: {args.file}: {exc.strerror or exc}", file=out, flush=True)
            return 2
        except RemoteError as exc:
            print(f"clientfolio: the contacts service failed: {exc.value}", file=out,
                  flush=True)
            return 1
    return run


@_plain_errors
def cmd_export(args, config, out=sys.stderr):
    extension = args.file.lower().rsplit(".", 1)[-1] if "." in args.file else ""
    format = args.format or (extension if extension in ("xlsx", "vcf") else "csv")
    params = exports.list_params({name: getattr(args, name, None)
                                  for name in exports.FILTERS})
    count = 0
    with _proxy(config) as rpc, open(args.file, "wb") as target:
        def list_page(page_params):
            return rpc.contacts.list_clients(_context(args), page_params)

        def counted(records):
            nonlocal count
            for record in records:
                count += 1
                if count % 1000 == 0:
                    print(f"exported {count} clients", file=out, flush=True)
                yield record

        try:
            photo_of = vcards.photo_of_rpc(
                lambda client_id: rpc.contacts.get_photo(_context(args), client_id))
            for chunk in exports.stream(counted(exports.pages(list_page, params)), format,
                                        photo_of):
                target.write(chunk)
        except BaseException:  # no half-written export left behind
            target.close()
            os.remove(args.file)
            raise
    print(f"exported {count} clients to {args.file}", file=out, flush=True)
    return 0


@_plain_errors
def cmd_import(args, config, out=sys.stderr):
    with open(args.file, "rb") as source:
        content = source.read()
    limit = import_max_bytes(config)
    if len(content) > limit:  # refused before sending anything
        print(f"{args.file} is {len(content) / MiB:.1f} MiB: an import file can be at most "
              f"{limit // MiB} MiB (IMPORT_MAX_BYTES); split it in several files",
              file=out, flush=True)
        return 2
    with _proxy(config) as rpc:
        ctx = _context(args)
        job = rpc.contacts.start_import(ctx, args.file.rsplit("/", 1)[-1],
                                        send_file(rpc.contacts, ctx, content), args.mode,
                                        args.dry_run, args.mapping, args.blank_cells,
                                        args.preset)
        print(f"import {job['id']} queued"
              + (f" (read as the {job['preset']} preset)" if job.get("preset") else ""),
              file=out, flush=True)
        last = None
        while job["status"] in ("queued", "running"):
            time.sleep(POLL_SECONDS)
            job = rpc.contacts.get_import(ctx, job["id"])
            line = _bar(job["processed"], job["total"])
            if line != last:
                print(f"\r{line}", end="", file=out, flush=True)
                last = line
        print(file=out)
        print(f"{job['status']}: {job['created']} created, {job['updated']} updated, "
              f"{job['unchanged']} unchanged, {job['failed']} failed"
              + (" (dry run: nothing was changed)" if job["dry_run"] else ""),
              file=out, flush=True)
        for error in job.get("errors", [])[:20]:
            print(f"  row {error['row']}: {error['field']}: {error['message']}", file=out)
        if job["failed"] and args.errors:
            _, chunks = read_parts(lambda offset, length: rpc.contacts.read_import_errors(
                ctx, job["id"], offset, length))
            with open(args.errors, "wb") as target:
                for chunk in chunks:
                    target.write(chunk)
            print(f"failed rows written to {args.errors}", file=out)
    print(json.dumps({k: job[k] for k in ("id", "status", "created", "updated", "unchanged",
                                          "failed")}))
    return 0 if job["status"] == "done" else 1


def _run(args):
    from .cli import UsageError, _prepare

    if args.action != "erase" or not args.restored:
        if not args.workspace:
            raise UsageError("--workspace is required")
        if not args.file:
            raise UsageError("name the file (export, import) or the client's id (erase)")

    config = _prepare(args)
    if args.action == "erase":
        return cmd_erase(args, config)
    return (cmd_export if args.action == "export" else cmd_import)(args, config)


@_plain_errors
def cmd_erase(args, config, out=sys.stderr):
    from .erasure_cli import cmd_erase as erase

    return erase(args, config, _proxy, out=out)


def register(subparsers):
    """Add ``clients export|import|erase`` to the ``clientfolio`` command line."""
    clients = subparsers.add_parser("clients", help="bulk export and import of clients")
    clients.add_argument("action", choices=("export", "import", "erase"))
    clients.add_argument("file", nargs="?",
                         help="the CSV, XLSX or vCard file to write (export), or the "
                              "CSV, XLSX, XLS, ODS or vCard file to read (import); "
                              "erase: the client's id")
    clients.add_argument("--workspace")
    clients.add_argument("--confirm", help="erase: the client's id or legal name, repeated")
    clients.add_argument("--restored", action="store_true",
                         help="erase: apply again every erasure recorded (after a restore)")
    clients.add_argument("--format", choices=tuple(exports.FORMATS),
                         help="export format (default: from the file name, else csv)")
    clients.add_argument("--mode", choices=("create", "upsert"), default="create",
                         help="import: create new clients only, or update matching ones")
    clients.add_argument("--dry-run", action="store_true",
                         help="import: report what would happen, change nothing")
    clients.add_argument("--mapping", help='import: JSON {"column header": "field path"}')
    clients.add_argument("--blank-cells", choices=("keep", "clear"), default="keep",
                         help="import, upsert: a blank cell keeps the stored value (default) "
                              "or clears it")
    clients.add_argument("--errors", help="import: write the failed rows to this CSV file")
    # Not argparse choices: the service refuses an unknown preset itself, with the list.
    clients.add_argument("--preset", metavar="|".join(spreadsheet.IMPORT_PRESETS),
                         help="import: the CRM whose export the file is (default: found "
                              "from the headers)")
    for name in exports.FILTERS:
        clients.add_argument(f"--{name.replace('_', '-')}", dest=name,
                             help=f"export: the list filter '{name}'")
    clients.set_defaults(func=_run)
    return clients
