"""hostkit for asyncio applications: the host's methods as coroutines.

::

    import hostkit.aio

    async def main():
        async with hostkit.aio.open_host() as host:
            echo = await host.load("echo.wasm")
            pid = await host.spawn(echo, name="echo")
            print(await host.call(pid, "hello"))

    asyncio.run(main())

How it works: the host is a Trio host (:func:`hostkit.open_host`) on a Trio
run of its own. Every method of the :class:`AsyncioHost` hands its operation
to that run (``TrioToken.run_sync_soon``), runs it there in a Trio task and
resumes the awaiting asyncio task with the result. So:

* **Same semantics, same errors.** Each method is the Trio
  :class:`hostkit.Host` method of the same name, as a coroutine (also the
  ones that are plain functions under Trio, such as ``send``: each one
  crosses to the host's run). Exceptions from hostkit's error tree come back
  unchanged.
* **Cancellation.** Cancelling the awaiting task (``task.cancel()``,
  ``asyncio.timeout``) cancels the operation on the Trio side too, and the
  task resumes only once the Trio side let go of it: a cancelled ``call``
  frees its reply slot, a cancelled ``spawn`` leaves no actor. ``call``
  keeps its own ``timeout=`` (:class:`~hostkit.CallTimeout`).
* **One loop.** A host belongs to the loop that opened it; awaited from
  another loop, another thread or Trio, a method raises ``RuntimeError``
  naming :mod:`hostkit.blocking` (for threads) and the Trio host.
* **Close.** Leaving the ``async with`` block, normally or by an exception
  (cancellation and Ctrl-C under ``asyncio.run`` included), closes the host
  as :meth:`AsyncioHost.aclose`: it stops taking calls, stops every actor,
  ends calls pending in other tasks and ends the Trio run, joining its
  thread.

Where the Trio run lives (``open_host(mode=...)``), measured with
``benchmarks/bench_embedding.py``:

* ``"thread"`` (the default): Trio runs in a thread of its own. Jobs into
  Trio and results back into the loop cross with one wake-up per batch.
  Chosen because its call round trip was faster in every run (0.9-2.6x
  the Trio API's, against 1.5-7.4x in guest mode, on a loaded 2-core
  machine; throughput and CPU per call alike) and because it isolates the
  host from the loop: a loop busy with, or blocked by, the application's
  own code does not stall the host's supervisors, timers and replies.
  Trio also allows only one guest run per thread.
* ``"guest"``: Trio runs as a guest on the asyncio loop
  (``trio.lowlevel.start_guest_run``), no thread for Trio. Each wake-up of
  the host goes through Trio's I/O thread and ``call_soon_threadsafe``
  before Trio runs, on the loop's own thread. For apps that want no extra
  thread and never block their loop.

See ``docs/embedding.md``.
"""

from ._aio import AsyncioHost as AsyncioHost
from ._aio import AsyncioMonitor as AsyncioMonitor
from ._aio import AsyncioSupervisor as AsyncioSupervisor
from ._aio import open_host as open_host

__all__ = ["AsyncioHost", "AsyncioMonitor", "AsyncioSupervisor", "open_host"]
