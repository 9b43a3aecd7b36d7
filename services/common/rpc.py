"""nameko's ``@rpc`` with the kernel's typed errors marked as expected.

A ``NotFound`` or ``ValidationFailed`` is an answer, not a failure: nameko then
logs it as a warning without a traceback instead of as an exception.
"""
from nameko.rpc import rpc as nameko_rpc

from .errors import ClientfolioError


def rpc(fn=None, **kwargs):
    """Use as ``@rpc`` or ``@rpc(...)``, like nameko's."""
    kwargs.setdefault("expected_exceptions", ClientfolioError)
    if fn is None:
        return nameko_rpc(**kwargs)
    return nameko_rpc(**kwargs)(fn)
