"""The caller's side of the projects service's protocol: the codes and English templates of
its messages, which the gateway translates (it imports only ``services.common``)."""
