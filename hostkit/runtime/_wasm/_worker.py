"""The compile worker: run as a script (``python -I _worker.py ...``), not
imported. It bounds itself before reading any input, compiles one component
from stdin with the host's engine settings and writes the serialized
artifact to stdout.

    argv: fuel(0|1) cpu_seconds address_space_bytes max_code_bytes
          [memory_reservation memory_init_cow(0|1)]

The last two mirror the instance pool's engine settings (``_pool``: that
reservation, no guard region, CoW or not); a reservation of 0 leaves
wasmtime's defaults.

Exit codes: 0 ok; 2 invalid component (stderr: wasmtime's message);
3 the compiled code exceeds max_code_bytes; 4 out of memory (Python side).
Killed by SIGXCPU/SIGKILL: over the CPU-time limit. A failed Rust
allocation aborts (SIGABRT) with "memory allocation ... failed" on stderr.

Imports nothing from hostkit: only wasmtime and the standard library.
"""

from __future__ import annotations

import resource
import sys

EXIT_INVALID, EXIT_TOO_LARGE, EXIT_NO_MEMORY = 2, 3, 4


def main(argv: list[str]) -> int:
    fuel, cpu, address_space, max_code, reservation, cow = (int(a) for a in [*argv, "0", "1"][:6])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        import wasmtime
        from wasmtime import component as wc

        data = sys.stdin.buffer.read()
        cfg = wasmtime.Config()
        cfg.epoch_interruption = True
        cfg.consume_fuel = bool(fuel)
        if reservation:
            from wasmtime import _ffi as ffi

            ffi.wasmtime_config_memory_reservation_set(cfg.ptr(), reservation)
            ffi.wasmtime_config_memory_guard_size_set(cfg.ptr(), 0)
            ffi.wasmtime_config_memory_init_cow_set(cfg.ptr(), bool(cow))
        engine = wasmtime.Engine(cfg)
        try:
            compiled = wc.Component(engine, data)
        except wasmtime.WasmtimeError as exc:
            sys.stderr.write(str(exc))
            return EXIT_INVALID
        body = bytes(compiled.serialize())
    except MemoryError:
        return EXIT_NO_MEMORY
    if len(body) > max_code:
        sys.stderr.write(str(len(body)))
        return EXIT_TOO_LARGE
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
