"""Errors a host function returns to the guest, one class per WIT error case.

Providers (stock or an application's) raise these from hookimpls; the binding
layer turns them into the ``error`` variant of ``hostkit:host/types`` with
:func:`wit_error_of`. They extend hostkit's tree::

    HostkitError
     +-- HostCallError            a host function failed; ``wit_case`` names the variant case
          +-- HostCallDenied          refused: outside the grant (also a PermissionError)
          +-- HostCallNotFound        the named file or key does not exist (also a LookupError)
          +-- HostCallInvalid         the guest's arguments are malformed (also a ValueError)
          |    +-- PathRejected       (in ``_paths``) a guest path is malformed
          |         +-- PathOutsideRoot   outside every granted root (maps to ``denied``)
          +-- HostCallTooLarge        an input or output exceeds a host limit
          |    +-- HostCallQuotaExceeded  a per-plugin quota would be exceeded
          +-- HostCallIOError         disk, network or server failed (also an OSError)
          +-- HostCallTimeout         the call ran out of time (also a TimeoutError)
          +-- HostCallRateLimited     the caller exceeded a rate or budget
          +-- HostCallUnsupported     no provider handles this call

:class:`hostkit.CapabilityDenied` raised by the gate also maps to ``denied``.
"""

from __future__ import annotations

from typing import ClassVar

from .._errors import CapabilityDenied, HostkitError

__all__ = [
    "HostCallDenied",
    "HostCallError",
    "HostCallIOError",
    "HostCallInvalid",
    "HostCallNotFound",
    "HostCallQuotaExceeded",
    "HostCallRateLimited",
    "HostCallTimeout",
    "HostCallTooLarge",
    "HostCallUnsupported",
    "wit_error_of",
]


class HostCallError(HostkitError):
    """A host function failed. ``wit_case`` is the case of the WIT ``error``
    variant the guest receives, ``detail`` its payload (dropped for cases
    without one)."""

    wit_case: ClassVar[str] = "io"
    has_payload: ClassVar[bool] = True

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.wit_case)
        self.detail = detail


class HostCallDenied(HostCallError, PermissionError):
    """The host refused: the call reaches outside what was granted (a path
    outside the roots, a private address). Whose fault: the plugin asked for
    more than it was given."""

    wit_case = "denied"


class HostCallNotFound(HostCallError, LookupError):
    """The file or key the guest named does not exist."""

    wit_case = "not-found"


class HostCallInvalid(HostCallError, ValueError):
    """The guest's arguments are malformed; ``detail`` names the argument."""

    wit_case = "invalid"


class HostCallTooLarge(HostCallError):
    """An input or output exceeds a host limit; ``detail`` names the limit.
    Nothing was written."""

    wit_case = "too-large"


class HostCallQuotaExceeded(HostCallTooLarge):
    """A per-plugin quota (bytes or files in a writable root, bytes or keys in
    kv) would be exceeded; ``detail`` names the quota. Nothing was written.
    The guest receives ``too-large`` with a detail starting ``quota``; the
    gate audits a ``quota`` record."""


class HostCallIOError(HostCallError, OSError):
    """The disk, the network or a remote server failed: nobody's fault in the
    call. ``detail`` carries the underlying message."""

    wit_case = "io"


class HostCallTimeout(HostCallError, TimeoutError):
    """The call did not finish within its time limit or the actor's deadline."""

    wit_case = "timeout"
    has_payload = False


class HostCallRateLimited(HostCallError):
    """The caller exceeded a rate or budget; it may retry later."""

    wit_case = "rate-limited"
    has_payload = False


class HostCallUnsupported(HostCallError):
    """No provider on this host handles the call with these arguments."""

    wit_case = "unsupported"


def wit_error_of(exc: BaseException) -> tuple[str, str | None] | None:
    """The WIT ``error`` case and payload for ``exc``, or None if ``exc`` is
    not an error a guest should see (a bug in a provider: trap instead).

    Payload-less cases (``timeout``, ``rate-limited``) give ``None`` as payload.
    """
    if isinstance(exc, HostCallError):
        return (exc.wit_case, exc.detail if exc.has_payload else None)
    if isinstance(exc, CapabilityDenied):
        return ("denied", str(exc))
    return None
