"""The tamper-evident audit log: one hash-chained JSON line per host event.

See ``docs/audit.md`` for the format and what verification proves.
"""

from ._key import MIN_KEY_BYTES as MIN_KEY_BYTES
from ._key import load_audit_key as load_audit_key
from ._log import AuditLog as AuditLog
from ._record import GENESIS_HASH as GENESIS_HASH
from ._sinks import AuditSink as AuditSink
from ._sinks import FileSink as FileSink
from ._sinks import MemorySink as MemorySink
from ._verify import VerifyResult as VerifyResult
from ._verify import parse_anchor as parse_anchor
from ._verify import verify as verify
from ._verify import verify_lines as verify_lines

__all__ = [
    "GENESIS_HASH",
    "MIN_KEY_BYTES",
    "AuditLog",
    "AuditSink",
    "FileSink",
    "MemorySink",
    "VerifyResult",
    "load_audit_key",
    "parse_anchor",
    "verify",
    "verify_lines",
]
