"""hostkit's Python guest SDK: write an actor as a GenServer, build it with
``hostkit build`` (or :func:`hostkit.build.build_python`), run it in a
hostkit host. The reference is ``docs/reference/guest-sdk.md``.

Inside a guest this package is bundled as the top-level ``hostkit_guest``::

    import hostkit_guest

    class Counter(hostkit_guest.GenServer):
        def init(self, args):
            self.count = int(args or 0)

        def handle_cast(self, msg):
            self.count += msg["by"]

        def handle_call(self, msg, from_):
            return self.count

    Actor = hostkit_guest.export(Counter)   # the class componentize-py exports

Guests built against ``hostkit:host/full-plugin`` reach the stock host
functions through ``hostkit_guest.host`` (``host.files_read(path)``,
``host.kv_set(key, value)``, ``host.http_request("GET", url)``...), and an
application's own WIT API through :func:`app_api`, and other nodes through
``hostkit_guest.remote`` (pids of other nodes, ``{name, node}`` lookup,
spawn on a named node). Refusals raise
:class:`HostCallDenied`, other failures :class:`HostCallFailed`.

Only the standard library and relative imports are used here, so the SDK
runs both inside the guest and (for tests) under plain CPython.
"""

from . import _hostfns as host
from . import _remote as remote
from ._app import app_api as app_api
from ._component import WitProcess as WitProcess
from ._component import export as export
from ._errors import CallFailed as CallFailed
from ._errors import GuestError as GuestError
from ._errors import HostCallDenied as HostCallDenied
from ._errors import HostCallFailed as HostCallFailed
from ._errors import MessageError as MessageError
from ._errors import RegisterFailed as RegisterFailed
from ._errors import SendFailed as SendFailed
from ._errors import SpawnFailed as SpawnFailed
from ._errors import StopGuest as StopGuest
from ._errors import UnhandledMessage as UnhandledMessage
from ._frames import Frame as Frame
from ._frames import FrameError as FrameError
from ._frames import decode_frames as decode_frames
from ._frames import encode_frames as encode_frames
from ._server import HOST_PID as HOST_PID
from ._server import NOREPLY as NOREPLY
from ._server import From as From
from ._server import GenServer as GenServer
from ._server import Process as Process
from ._server import Runtime as Runtime
from ._server import actor as actor

__all__ = [
    "HOST_PID",
    "NOREPLY",
    "CallFailed",
    "Frame",
    "FrameError",
    "From",
    "GenServer",
    "GuestError",
    "HostCallDenied",
    "HostCallFailed",
    "MessageError",
    "Process",
    "RegisterFailed",
    "Runtime",
    "SendFailed",
    "SpawnFailed",
    "StopGuest",
    "UnhandledMessage",
    "WitProcess",
    "actor",
    "app_api",
    "decode_frames",
    "encode_frames",
    "export",
    "host",
    "remote",
]
