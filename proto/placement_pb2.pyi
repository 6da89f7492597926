from cairn.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NodeAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NODE_ACTION_UNSPECIFIED: _ClassVar[NodeAction]
    NODE_ACTION_DRAIN: _ClassVar[NodeAction]
    NODE_ACTION_OUT: _ClassVar[NodeAction]
    NODE_ACTION_IN: _ClassVar[NodeAction]
    NODE_ACTION_REMOVE: _ClassVar[NodeAction]
NODE_ACTION_UNSPECIFIED: NodeAction
NODE_ACTION_DRAIN: NodeAction
NODE_ACTION_OUT: NodeAction
NODE_ACTION_IN: NodeAction
NODE_ACTION_REMOVE: NodeAction

class Node(_message.Message):
    __slots__ = ("id", "addr", "domain", "state", "capacity_bytes", "used_bytes", "last_heartbeat_ms")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_MS_FIELD_NUMBER: _ClassVar[int]
    id: str
    addr: str
    domain: _common_pb2.FailureDomain
    state: str
    capacity_bytes: int
    used_bytes: int
    last_heartbeat_ms: int
    def __init__(self, id: _Optional[str] = ..., addr: _Optional[str] = ..., domain: _Optional[_Union[_common_pb2.FailureDomain, _Mapping]] = ..., state: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., last_heartbeat_ms: _Optional[int] = ...) -> None: ...

class SlotMigration(_message.Message):
    __slots__ = ("slot", "holders", "since_epoch")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    SINCE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    slot: int
    holders: _containers.RepeatedScalarFieldContainer[str]
    since_epoch: int
    def __init__(self, slot: _Optional[int] = ..., holders: _Optional[_Iterable[str]] = ..., since_epoch: _Optional[int] = ...) -> None: ...

class PgRow(_message.Message):
    __slots__ = ("node_ids", "migrations")
    NODE_IDS_FIELD_NUMBER: _ClassVar[int]
    MIGRATIONS_FIELD_NUMBER: _ClassVar[int]
    node_ids: _containers.RepeatedScalarFieldContainer[str]
    migrations: _containers.RepeatedCompositeFieldContainer[SlotMigration]
    def __init__(self, node_ids: _Optional[_Iterable[str]] = ..., migrations: _Optional[_Iterable[_Union[SlotMigration, _Mapping]]] = ...) -> None: ...

class ClusterMap(_message.Message):
    __slots__ = ("epoch", "k", "m", "pg_count", "nodes", "pgs")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    K_FIELD_NUMBER: _ClassVar[int]
    M_FIELD_NUMBER: _ClassVar[int]
    PG_COUNT_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    PGS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    k: int
    m: int
    pg_count: int
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    pgs: _containers.RepeatedCompositeFieldContainer[PgRow]
    def __init__(self, epoch: _Optional[int] = ..., k: _Optional[int] = ..., m: _Optional[int] = ..., pg_count: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ..., pgs: _Optional[_Iterable[_Union[PgRow, _Mapping]]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "addr", "domain", "capacity_bytes", "used_bytes")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    addr: str
    domain: _common_pb2.FailureDomain
    capacity_bytes: int
    used_bytes: int
    def __init__(self, node_id: _Optional[str] = ..., addr: _Optional[str] = ..., domain: _Optional[_Union[_common_pb2.FailureDomain, _Mapping]] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("node_id", "epoch")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    epoch: int
    def __init__(self, node_id: _Optional[str] = ..., epoch: _Optional[int] = ...) -> None: ...

class GetClusterMapRequest(_message.Message):
    __slots__ = ("known_epoch", "min_epoch", "wait_s")
    KNOWN_EPOCH_FIELD_NUMBER: _ClassVar[int]
    MIN_EPOCH_FIELD_NUMBER: _ClassVar[int]
    WAIT_S_FIELD_NUMBER: _ClassVar[int]
    known_epoch: int
    min_epoch: int
    wait_s: float
    def __init__(self, known_epoch: _Optional[int] = ..., min_epoch: _Optional[int] = ..., wait_s: _Optional[float] = ...) -> None: ...

class GetClusterMapResponse(_message.Message):
    __slots__ = ("epoch", "not_modified", "map", "replica_id")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    NOT_MODIFIED_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    not_modified: bool
    map: ClusterMap
    replica_id: str
    def __init__(self, epoch: _Optional[int] = ..., not_modified: _Optional[bool] = ..., map: _Optional[_Union[ClusterMap, _Mapping]] = ..., replica_id: _Optional[str] = ...) -> None: ...

class GetPlacementRequest(_message.Message):
    __slots__ = ("blob_id",)
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    blob_id: bytes
    def __init__(self, blob_id: _Optional[bytes] = ...) -> None: ...

class GetPlacementResponse(_message.Message):
    __slots__ = ("epoch", "pg", "nodes")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    pg: int
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, epoch: _Optional[int] = ..., pg: _Optional[int] = ..., nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class NodeCommandRequest(_message.Message):
    __slots__ = ("node_id", "action", "force")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    action: NodeAction
    force: bool
    def __init__(self, node_id: _Optional[str] = ..., action: _Optional[_Union[NodeAction, str]] = ..., force: _Optional[bool] = ...) -> None: ...

class NodeCommandResponse(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class CreateClusterRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CreateClusterResponse(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReplicaHealth(_message.Message):
    __slots__ = ("id", "addr", "reachable", "match_index")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDR_FIELD_NUMBER: _ClassVar[int]
    REACHABLE_FIELD_NUMBER: _ClassVar[int]
    MATCH_INDEX_FIELD_NUMBER: _ClassVar[int]
    id: str
    addr: str
    reachable: bool
    match_index: int
    def __init__(self, id: _Optional[str] = ..., addr: _Optional[str] = ..., reachable: _Optional[bool] = ..., match_index: _Optional[int] = ...) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("replica_id", "role", "term", "leader_id", "leader_addr", "commit_index", "applied_index", "peers", "epoch", "map_created", "config_k", "config_m", "config_pg_count")
    REPLICA_ID_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    TERM_FIELD_NUMBER: _ClassVar[int]
    LEADER_ID_FIELD_NUMBER: _ClassVar[int]
    LEADER_ADDR_FIELD_NUMBER: _ClassVar[int]
    COMMIT_INDEX_FIELD_NUMBER: _ClassVar[int]
    APPLIED_INDEX_FIELD_NUMBER: _ClassVar[int]
    PEERS_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    MAP_CREATED_FIELD_NUMBER: _ClassVar[int]
    CONFIG_K_FIELD_NUMBER: _ClassVar[int]
    CONFIG_M_FIELD_NUMBER: _ClassVar[int]
    CONFIG_PG_COUNT_FIELD_NUMBER: _ClassVar[int]
    replica_id: str
    role: str
    term: int
    leader_id: str
    leader_addr: str
    commit_index: int
    applied_index: int
    peers: _containers.RepeatedCompositeFieldContainer[ReplicaHealth]
    epoch: int
    map_created: bool
    config_k: int
    config_m: int
    config_pg_count: int
    def __init__(self, replica_id: _Optional[str] = ..., role: _Optional[str] = ..., term: _Optional[int] = ..., leader_id: _Optional[str] = ..., leader_addr: _Optional[str] = ..., commit_index: _Optional[int] = ..., applied_index: _Optional[int] = ..., peers: _Optional[_Iterable[_Union[ReplicaHealth, _Mapping]]] = ..., epoch: _Optional[int] = ..., map_created: _Optional[bool] = ..., config_k: _Optional[int] = ..., config_m: _Optional[int] = ..., config_pg_count: _Optional[int] = ...) -> None: ...

class ListRepairWorkRequest(_message.Message):
    __slots__ = ("limit",)
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ...) -> None: ...

class SlotWork(_message.Message):
    __slots__ = ("slot", "target", "holders", "since_epoch")
    SLOT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    HOLDERS_FIELD_NUMBER: _ClassVar[int]
    SINCE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    slot: int
    target: str
    holders: _containers.RepeatedScalarFieldContainer[str]
    since_epoch: int
    def __init__(self, slot: _Optional[int] = ..., target: _Optional[str] = ..., holders: _Optional[_Iterable[str]] = ..., since_epoch: _Optional[int] = ...) -> None: ...

class PgWork(_message.Message):
    __slots__ = ("pg", "healthy_slots", "failures_tolerated", "slots")
    PG_FIELD_NUMBER: _ClassVar[int]
    HEALTHY_SLOTS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_TOLERATED_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    pg: int
    healthy_slots: int
    failures_tolerated: int
    slots: _containers.RepeatedCompositeFieldContainer[SlotWork]
    def __init__(self, pg: _Optional[int] = ..., healthy_slots: _Optional[int] = ..., failures_tolerated: _Optional[int] = ..., slots: _Optional[_Iterable[_Union[SlotWork, _Mapping]]] = ...) -> None: ...

class ListRepairWorkResponse(_message.Message):
    __slots__ = ("epoch", "repair_paused", "lease_holder", "lease_token", "lease_expires_ms", "pgs")
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    REPAIR_PAUSED_FIELD_NUMBER: _ClassVar[int]
    LEASE_HOLDER_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    PGS_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    repair_paused: bool
    lease_holder: str
    lease_token: int
    lease_expires_ms: int
    pgs: _containers.RepeatedCompositeFieldContainer[PgWork]
    def __init__(self, epoch: _Optional[int] = ..., repair_paused: _Optional[bool] = ..., lease_holder: _Optional[str] = ..., lease_token: _Optional[int] = ..., lease_expires_ms: _Optional[int] = ..., pgs: _Optional[_Iterable[_Union[PgWork, _Mapping]]] = ...) -> None: ...

class AcquireLeaseRequest(_message.Message):
    __slots__ = ("holder", "ttl_s")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TTL_S_FIELD_NUMBER: _ClassVar[int]
    holder: str
    ttl_s: float
    def __init__(self, holder: _Optional[str] = ..., ttl_s: _Optional[float] = ...) -> None: ...

class AcquireLeaseResponse(_message.Message):
    __slots__ = ("token", "expires_ms")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_MS_FIELD_NUMBER: _ClassVar[int]
    token: int
    expires_ms: int
    def __init__(self, token: _Optional[int] = ..., expires_ms: _Optional[int] = ...) -> None: ...

class ReleaseLeaseRequest(_message.Message):
    __slots__ = ("holder", "token")
    HOLDER_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    holder: str
    token: int
    def __init__(self, holder: _Optional[str] = ..., token: _Optional[int] = ...) -> None: ...

class ReleaseLeaseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SlotSyncedRequest(_message.Message):
    __slots__ = ("pg", "slot", "node_id", "since_epoch", "lease_token")
    PG_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    SINCE_EPOCH_FIELD_NUMBER: _ClassVar[int]
    LEASE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pg: int
    slot: int
    node_id: str
    since_epoch: int
    lease_token: int
    def __init__(self, pg: _Optional[int] = ..., slot: _Optional[int] = ..., node_id: _Optional[str] = ..., since_epoch: _Optional[int] = ..., lease_token: _Optional[int] = ...) -> None: ...

class SlotSyncedResponse(_message.Message):
    __slots__ = ("epoch",)
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    epoch: int
    def __init__(self, epoch: _Optional[int] = ...) -> None: ...

class SetRepairPausedRequest(_message.Message):
    __slots__ = ("paused",)
    PAUSED_FIELD_NUMBER: _ClassVar[int]
    paused: bool
    def __init__(self, paused: _Optional[bool] = ...) -> None: ...

class SetRepairPausedResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
