"""The only package of hostkit that imports wasmtime.

- ``_capi``: wasmtime's C API with our own ctypes prototypes, and C values;
- ``_guard``: an instance's `Guard`, the epoch callback and the one
  exception firewall every raw host callback goes through;
- ``_types`` / ``_values``: component types as plain `WitFunc` data, and the
  value plans of generic host functions;
- ``_process``: hostkit's ``process`` imports (hand-written conversions);
- ``_engine`` / ``_cache``: the Engine, linking, compiling and the on-disk
  compile cache;
- ``_instance``: one actor's Store and component instance, whose calls are
  async calls that yield at slice ends and suspend in host functions.

Calls go through wasmtime's C API directly (via wasmtime-py's ctypes
bindings) rather than wasmtime-py's public ``Func.__call__``: the public path
re-reads the function type and converts every value in Python (~10-14 us per
call here); the direct path costs ~3 us. Every host import is a raw C
callback behind `firewall`: no Python exception ever reaches wasmtime.
"""

from __future__ import annotations

from ._arena import ArenaSettings as ArenaSettings
from ._cache import WASMTIME_VERSION as WASMTIME_VERSION
from ._compile import CompileLimits as CompileLimits
from ._compile import CompileProgress as CompileProgress
from ._engine import CompiledComponent as CompiledComponent
from ._engine import HostFunction as HostFunction
from ._engine import ImportMistyped as ImportMistyped
from ._engine import ImportRefused as ImportRefused
from ._engine import ImportResolver as ImportResolver
from ._engine import Limits as Limits
from ._engine import WasmEngine as WasmEngine
from ._engine import host_function_table as host_function_table
from ._guard import Guard as Guard
from ._guard import GuestFault as GuestFault
from ._guard import Pending as Pending
from ._guard import current_instance as current_instance
from ._instance import DONE as DONE
from ._instance import SUSPENDED as SUSPENDED
from ._instance import YIELDED as YIELDED
from ._instance import Instance as Instance
from ._pool import PoolSettings as PoolSettings
from ._process import PROCESS_FUNCTIONS as PROCESS_FUNCTIONS
from ._process import ProcessApi as ProcessApi
from ._types import WitRecordValue as WitRecordValue
from ._types import WitVariant as WitVariant
from ._types import describe_func as describe_func
from ._values import _PLANS as _PLANS

__all__ = [
    "DONE",
    "PROCESS_FUNCTIONS",
    "SUSPENDED",
    "YIELDED",
    "WASMTIME_VERSION",
    "CompileLimits",
    "CompileProgress",
    "CompiledComponent",
    "GuestFault",
    "Guard",
    "HostFunction",
    "ImportMistyped",
    "ImportRefused",
    "ImportResolver",
    "Instance",
    "Limits",
    "Pending",
    "ArenaSettings",
    "PoolSettings",
    "ProcessApi",
    "WasmEngine",
    "WitRecordValue",
    "WitVariant",
    "current_instance",
    "describe_func",
    "host_function_table",
]
