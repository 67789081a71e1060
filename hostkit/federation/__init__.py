"""Federation: hostkit nodes linked over websocket or QUIC (see docs/federation.md).

The protocol core is sans-IO (:class:`Connection`); transports are thin
adapters around it.
"""

from ._auth import ClusterSecret as ClusterSecret
from ._auth import NodeKeys as NodeKeys
from ._errors import AuthenticationFailed as AuthenticationFailed
from ._errors import FederationConfigError as FederationConfigError
from ._errors import NodeUnreachable as NodeUnreachable
from ._errors import ProtocolError as ProtocolError
from ._errors import SendBufferFull as SendBufferFull
from ._identity import NodeId as NodeId
from ._identity import PidSlots as PidSlots
from ._identity import RemotePid as RemotePid
from ._identity import check_node_name as check_node_name
from ._identity import new_creation as new_creation
from ._pg import ProcessGroups as ProcessGroups
from ._protocol import CloseReason as CloseReason
from ._protocol import Connection as Connection
from ._protocol import LinkClosed as LinkClosed
from ._protocol import LinkConfig as LinkConfig
from ._protocol import PeerUp as PeerUp
from ._protocol import PeerVerified as PeerVerified
from ._protocol import Received as Received
from ._protocol import State as State
