"""Federation: hostkit nodes linked over websocket or QUIC (see docs/federation.md).

The protocol core is sans-IO (:class:`Connection`); transports are thin
adapters around it; :class:`Federation` owns a node's links and is the seam
the router plugs into (:func:`open_host_federation` joins it to a Host).
Importable without wasmtime.
"""

from ._auth import ClusterSecret as ClusterSecret
from ._auth import NodeKeys as NodeKeys
from ._certs import DevCert as DevCert
from ._certs import make_cluster_secret as make_cluster_secret
from ._certs import make_dev_cert as make_dev_cert
from ._certs import make_node_key as make_node_key
from ._errors import AuthenticationFailed as AuthenticationFailed
from ._errors import FederationConfigError as FederationConfigError
from ._errors import NoCredit as NoCredit
from ._errors import NodeUnreachable as NodeUnreachable
from ._errors import ProtocolError as ProtocolError
from ._errors import SendBufferFull as SendBufferFull
from ._federation import Federation as Federation
from ._federation import NodeDown as NodeDown
from ._federation import NodeEvent as NodeEvent
from ._federation import NodeUp as NodeUp
from ._federation import open_federation as open_federation
from ._guestapi import GuestRemote as GuestRemote
from ._guestapi import RemoteHookspecs as RemoteHookspecs
from ._hostbridge import HostBridge as HostBridge
from ._hostbridge import RemoteActorExited as RemoteActorExited
from ._hostbridge import host_peer_policy as host_peer_policy
from ._hostbridge import open_host_federation as open_host_federation
from ._hostbridge import remote_actor as remote_actor
from ._identity import NodeId as NodeId
from ._identity import PidSlots as PidSlots
from ._identity import RemotePid as RemotePid
from ._identity import check_node_name as check_node_name
from ._identity import new_creation as new_creation
from ._link import Channel as Channel
from ._link import Link as Link
from ._link import Transport as Transport
from ._local import LocalNode as LocalNode
from ._pg import ProcessGroups as ProcessGroups
from ._policy import CedarPeerPolicy as CedarPeerPolicy
from ._policy import ComponentRef as ComponentRef
from ._policy import GroupRef as GroupRef
from ._policy import LocalActor as LocalActor
from ._policy import PeerPolicy as PeerPolicy
from ._policy import RegisteredName as RegisteredName
from ._policy import ThisNode as ThisNode
from ._policy import federation_schema as federation_schema
from ._protocol import CloseReason as CloseReason
from ._protocol import Connection as Connection
from ._protocol import LinkClosed as LinkClosed
from ._protocol import LinkConfig as LinkConfig
from ._protocol import PeerUp as PeerUp
from ._protocol import PeerVerified as PeerVerified
from ._protocol import Received as Received
from ._protocol import State as State
from ._quic import QuicTransport as QuicTransport
from ._websocket import WebsocketTransport as WebsocketTransport

__all__ = [
    "AuthenticationFailed",
    "CedarPeerPolicy",
    "Channel",
    "CloseReason",
    "ClusterSecret",
    "ComponentRef",
    "Connection",
    "DevCert",
    "Federation",
    "FederationConfigError",
    "GroupRef",
    "GuestRemote",
    "HostBridge",
    "Link",
    "LinkClosed",
    "LinkConfig",
    "LocalActor",
    "LocalNode",
    "NoCredit",
    "NodeDown",
    "NodeEvent",
    "NodeId",
    "NodeKeys",
    "NodeUnreachable",
    "NodeUp",
    "PeerPolicy",
    "PeerUp",
    "PeerVerified",
    "PidSlots",
    "ProcessGroups",
    "ProtocolError",
    "QuicTransport",
    "Received",
    "RegisteredName",
    "RemoteActorExited",
    "RemoteHookspecs",
    "RemotePid",
    "SendBufferFull",
    "State",
    "ThisNode",
    "Transport",
    "WebsocketTransport",
    "check_node_name",
    "federation_schema",
    "host_peer_policy",
    "make_cluster_secret",
    "make_dev_cert",
    "make_node_key",
    "new_creation",
    "open_federation",
    "open_host_federation",
    "remote_actor",
]
