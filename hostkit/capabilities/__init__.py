"""Capabilities: the Cedar authorizer, policy shorthands, rate limits, the
host-function hookspecs and the stock providers (files, http, kv, clock,
random, log).

The gate that puts a Cedar decision and an audit record in front of every
host call (`Gate`, passed to ``open_host(capabilities=...)``) lives in the
dispatcher, not in a plugin; see ``docs/capabilities.md``.
"""

from ._authorizer import Authorizer as Authorizer
from ._authorizer import Decision as Decision
from ._context import CallContext as CallContext
from ._entities import Entity as Entity
from ._entities import PluginIdentity as PluginIdentity
from ._gate import Gate as Gate
from ._hookspecs import hookimpl as hookimpl
from ._hookspecs import hookspec as hookspec
from ._host_errors import HostCallDenied as HostCallDenied
from ._host_errors import HostCallError as HostCallError
from ._host_errors import HostCallInvalid as HostCallInvalid
from ._host_errors import HostCallIOError as HostCallIOError
from ._host_errors import HostCallNotFound as HostCallNotFound
from ._host_errors import HostCallQuotaExceeded as HostCallQuotaExceeded
from ._host_errors import HostCallRateLimited as HostCallRateLimited
from ._host_errors import HostCallTimeout as HostCallTimeout
from ._host_errors import HostCallTooLarge as HostCallTooLarge
from ._host_errors import HostCallUnsupported as HostCallUnsupported
from ._host_errors import wit_error_of as wit_error_of
from ._limits import DEFAULT_MAX_PAYLOAD as DEFAULT_MAX_PAYLOAD
from ._limits import DEFAULT_RATE as DEFAULT_RATE
from ._limits import CallLimits as CallLimits
from ._limits import DenialLimits as DenialLimits
from ._limits import RateLimit as RateLimit
from ._paths import PathOutsideRoot as PathOutsideRoot
from ._paths import PathRejected as PathRejected
from ._paths import ResolvedPath as ResolvedPath
from ._paths import Root as Root
from ._paths import normalize_guest_path as normalize_guest_path
from ._paths import resolve_in_roots as resolve_in_roots
from ._policies import PolicyText as PolicyText
from ._schema import CedarSchema as CedarSchema
from ._shorthands import Call as Call
from ._shorthands import FileList as FileList
from ._shorthands import FileRead as FileRead
from ._shorthands import FileWrite as FileWrite
from ._shorthands import KeyValue as KeyValue
from ._shorthands import Messaging as Messaging
from ._shorthands import NetworkOutbound as NetworkOutbound
from ._shorthands import Register as Register
from ._shorthands import Spawn as Spawn
from ._shorthands import grant as grant
from ._shorthands import grants_to_cedar as grants_to_cedar

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "DEFAULT_RATE",
    "Authorizer",
    "Call",
    "CallContext",
    "CallLimits",
    "CedarSchema",
    "Decision",
    "DenialLimits",
    "Entity",
    "FileList",
    "FileRead",
    "FileWrite",
    "Gate",
    "grant",
    "grants_to_cedar",
    "hookimpl",
    "hookspec",
    "HostCallDenied",
    "HostCallError",
    "HostCallInvalid",
    "HostCallIOError",
    "HostCallNotFound",
    "HostCallQuotaExceeded",
    "HostCallRateLimited",
    "HostCallTimeout",
    "HostCallTooLarge",
    "HostCallUnsupported",
    "KeyValue",
    "Messaging",
    "NetworkOutbound",
    "normalize_guest_path",
    "PathOutsideRoot",
    "PathRejected",
    "PluginIdentity",
    "PolicyText",
    "RateLimit",
    "Register",
    "resolve_in_roots",
    "ResolvedPath",
    "Root",
    "Spawn",
    "wit_error_of",
]
