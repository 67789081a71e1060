"""hostkit for synchronous applications: a host whose methods block.

::

    import hostkit.blocking

    with hostkit.blocking.open_host() as host:
        echo = host.load("echo.wasm")
        pid = host.spawn(echo, name="echo")
        print(host.call(pid, "hello"))          # blocks until the reply

How it works: ``open_host`` starts one thread that runs Trio and, in it,
:func:`hostkit.open_host`. Every method of the :class:`BlockingHost` it
yields hands its operation to that thread (``TrioToken.run_sync_soon``), runs
it there in a Trio task and blocks the calling thread until it is done. So:

* **Any thread, several at once.** Calls from many threads run
  concurrently on the host; each caller blocks only itself. Host functions
  and guests run on the host's scheduler threads, as under Trio.
* **Same semantics, same errors.** Each method is the Trio
  :class:`hostkit.Host` method of the same name; exceptions from hostkit's
  error tree (``NoProc``, ``CallTimeout``, ``SpawnError``, ...) come back
  unchanged.
* **Timeouts.** ``call`` keeps its ``timeout=`` (a
  :class:`~hostkit.CallTimeout`); ``spawn``, ``wait`` and the
  supervisor's methods take ``timeout=`` (seconds, default None: no limit)
  and raise :class:`TimeoutError` after cancelling the operation on the
  Trio side (a spawn that times out leaves no actor behind).
* **Ctrl-C.** A ``KeyboardInterrupt`` while a method blocks cancels its
  operation on the Trio side, waits until the Trio side let go of it (at
  once, except a compile in progress, which finishes first), then
  propagates; leaving the ``with`` block closes the host. A second Ctrl-C
  stops that wait. While closing, Ctrl-C is held back until the Trio
  thread is joined, then raised.
* **Close.** Leaving the ``with`` block, normally or by an exception, (or
  :meth:`BlockingHost.close`) stops taking calls, stops every actor, ends
  calls still pending in other threads (``ActorExited`` or
  ``HostClosedError``) and joins the Trio thread, always. Afterwards every
  method raises :class:`~hostkit.HostClosedError`.
* **Not from the host's own thread.** A blocking method called on the
  host's Trio thread (say, from a supervisor's ``TaskStart`` child) would
  wait for itself; it raises ``RuntimeError`` naming the Trio ``Host``, to
  use there instead.

See ``docs/embedding.md``.
"""

from ._blocking import BlockingHost as BlockingHost
from ._blocking import BlockingMonitor as BlockingMonitor
from ._blocking import BlockingSupervisor as BlockingSupervisor
from ._blocking import open_host as open_host

__all__ = ["BlockingHost", "BlockingMonitor", "BlockingSupervisor", "open_host"]
