"""``clientfolio clients erase``: a client's erasure from a shell (docs/privacy.md).

    clientfolio clients erase CLIENT_ID --workspace W --confirm "<the client's legal name>"
    clientfolio clients erase --restored [--workspace W]

The first erases one client, exactly as ``POST /api/v1/clients/{id}/erase`` does (the
contacts service over RPC). The second is for a restored backup: every erasure the
gateway recorded is applied again (a client already erased is skipped), so a contacts
database restored from before an erasure does not bring the person back.
"""
import sys

from services.common.errors import ClientfolioError, Gone, NotFound


def _context(workspace):
    # No command id of its own: the RPC request's identifies the command (a redelivery
    # keeps it), and a later run erases again what a restore brought back.
    return {"workspace": workspace, "actor": "cli", "correlation_id": None}


def cmd_erase(args, config, proxy, out=sys.stderr):
    if args.restored:
        return _reapply(args, config, proxy, out)
    if not args.file or not args.confirm:
        print("clientfolio: name the client (its id) and repeat its id or legal name with "
              "--confirm", file=out, flush=True)
        return 2
    with proxy(config) as rpc:
        result = rpc.contacts.erase_client(_context(args.workspace), args.file, args.confirm)
    print(f"erased {', '.join(result['erased_ids'])}", file=out, flush=True)
    return 0


def _reapply(args, config, proxy, out):
    from .cli import _gateway_database
    from gateway.erasure import recorded_erasures

    erasures = recorded_erasures(_gateway_database(config), args.workspace)
    applied = 0
    with proxy(config) as rpc:
        for workspace, client_id in erasures:
            try:
                # The confirmation is the id: the person asked for this erasure already.
                rpc.contacts.erase_client(_context(workspace), client_id, client_id)
                applied += 1
                print(f"{workspace}: {client_id} erased again", file=out, flush=True)
            except (Gone, NotFound):
                pass  # erased already in this database, or never in it
            except ClientfolioError as exc:
                print(f"{workspace}: {client_id}: {exc.detail or exc.title}", file=out,
                      flush=True)
                return 2
    print(f"{len(erasures)} recorded erasures, {applied} applied again", file=out, flush=True)
    return 0
