"""The tamper-evident audit log: one hash-chained JSON line per host event.

See ``docs/audit.md`` for the format and what verification proves.
"""

from ._log import AuditLog as AuditLog
from ._record import GENESIS_HASH as GENESIS_HASH
from ._sinks import AuditSink as AuditSink
from ._sinks import FileSink as FileSink
from ._sinks import MemorySink as MemorySink
from ._verify import VerifyResult as VerifyResult
from ._verify import verify as verify
from ._verify import verify_lines as verify_lines

__all__ = [
    "GENESIS_HASH",
    "AuditLog",
    "AuditSink",
    "FileSink",
    "MemorySink",
    "VerifyResult",
    "verify",
    "verify_lines",
]
