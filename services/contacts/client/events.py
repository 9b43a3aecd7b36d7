"""What a consumer of contacts' events needs to keep a replica of its clients: which
event leaves a client live or archived (and merged into which survivor)."""


def _live(event):
    return {"archived": False, "merged_into": None}


def _archived(event):
    return {"archived": True, "merged_into": event.data.get("merged_into")}


#: The rules of ``services.common.replica.EntityReplica`` for contacts' clients.
CLIENT_REPLICA_RULES = {
    "ClientRegistered": _live,
    "ClientArchived": _archived,
    "ClientRestored": _live,
    # Erased: never to be named again (its personal data is gone, docs/privacy.md).
    "ClientErased": _archived,
}
