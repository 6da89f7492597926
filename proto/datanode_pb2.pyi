from cairn.proto import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ShardState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHARD_STATE_UNSPECIFIED: _ClassVar[ShardState]
    SHARD_STATE_LIVE: _ClassVar[ShardState]
    SHARD_STATE_DEAD: _ClassVar[ShardState]
SHARD_STATE_UNSPECIFIED: ShardState
SHARD_STATE_LIVE: ShardState
SHARD_STATE_DEAD: ShardState

class ShardPiece(_message.Message):
    __slots__ = ("data", "crc32c")
    DATA_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    crc32c: int
    def __init__(self, data: _Optional[bytes] = ..., crc32c: _Optional[int] = ...) -> None: ...

class WriteShardHeader(_message.Message):
    __slots__ = ("key", "pg", "expected_length")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_LENGTH_FIELD_NUMBER: _ClassVar[int]
    key: _common_pb2.ShardKey
    pg: int
    expected_length: int
    def __init__(self, key: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ..., pg: _Optional[int] = ..., expected_length: _Optional[int] = ...) -> None: ...

class WriteShardTrailer(_message.Message):
    __slots__ = ("length", "crc32c")
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    length: int
    crc32c: int
    def __init__(self, length: _Optional[int] = ..., crc32c: _Optional[int] = ...) -> None: ...

class WriteShardRequest(_message.Message):
    __slots__ = ("header", "piece", "trailer")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    TRAILER_FIELD_NUMBER: _ClassVar[int]
    header: WriteShardHeader
    piece: ShardPiece
    trailer: WriteShardTrailer
    def __init__(self, header: _Optional[_Union[WriteShardHeader, _Mapping]] = ..., piece: _Optional[_Union[ShardPiece, _Mapping]] = ..., trailer: _Optional[_Union[WriteShardTrailer, _Mapping]] = ...) -> None: ...

class PutShardRequest(_message.Message):
    __slots__ = ("header", "piece")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    PIECE_FIELD_NUMBER: _ClassVar[int]
    header: WriteShardHeader
    piece: ShardPiece
    def __init__(self, header: _Optional[_Union[WriteShardHeader, _Mapping]] = ..., piece: _Optional[_Union[ShardPiece, _Mapping]] = ...) -> None: ...

class ShardInfo(_message.Message):
    __slots__ = ("key", "pg", "length", "crc32c", "state")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    CRC32C_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    key: _common_pb2.ShardKey
    pg: int
    length: int
    crc32c: int
    state: ShardState
    def __init__(self, key: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ..., pg: _Optional[int] = ..., length: _Optional[int] = ..., crc32c: _Optional[int] = ..., state: _Optional[_Union[ShardState, str]] = ...) -> None: ...

class WriteShardResponse(_message.Message):
    __slots__ = ("shard", "already_present")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    shard: ShardInfo
    already_present: bool
    def __init__(self, shard: _Optional[_Union[ShardInfo, _Mapping]] = ..., already_present: _Optional[bool] = ...) -> None: ...

class PutShardResponse(_message.Message):
    __slots__ = ("shard", "already_present")
    SHARD_FIELD_NUMBER: _ClassVar[int]
    ALREADY_PRESENT_FIELD_NUMBER: _ClassVar[int]
    shard: ShardInfo
    already_present: bool
    def __init__(self, shard: _Optional[_Union[ShardInfo, _Mapping]] = ..., already_present: _Optional[bool] = ...) -> None: ...

class ReadShardRequest(_message.Message):
    __slots__ = ("key", "offset", "length")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    key: _common_pb2.ShardKey
    offset: int
    length: int
    def __init__(self, key: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class ReadShardResponse(_message.Message):
    __slots__ = ("piece", "offset", "range_length", "shard_length")
    PIECE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    RANGE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    SHARD_LENGTH_FIELD_NUMBER: _ClassVar[int]
    piece: ShardPiece
    offset: int
    range_length: int
    shard_length: int
    def __init__(self, piece: _Optional[_Union[ShardPiece, _Mapping]] = ..., offset: _Optional[int] = ..., range_length: _Optional[int] = ..., shard_length: _Optional[int] = ...) -> None: ...

class DeleteShardsRequest(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[_common_pb2.ShardKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[_common_pb2.ShardKey, _Mapping]]] = ...) -> None: ...

class DeleteShardsResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class ListShardsRequest(_message.Message):
    __slots__ = ("pg", "after", "limit")
    PG_FIELD_NUMBER: _ClassVar[int]
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    pg: int
    after: _common_pb2.ShardKey
    limit: int
    def __init__(self, pg: _Optional[int] = ..., after: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListShardsResponse(_message.Message):
    __slots__ = ("shards", "next")
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    shards: _containers.RepeatedCompositeFieldContainer[ShardInfo]
    next: _common_pb2.ShardKey
    def __init__(self, shards: _Optional[_Iterable[_Union[ShardInfo, _Mapping]]] = ..., next: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ...) -> None: ...

class StatRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatResponse(_message.Message):
    __slots__ = ("node_id", "capacity_bytes", "used_bytes", "live_shards", "state", "dead_shards", "labels", "volumes", "sealed_volumes")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_BYTES_FIELD_NUMBER: _ClassVar[int]
    USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    LIVE_SHARDS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DEAD_SHARDS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    SEALED_VOLUMES_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    capacity_bytes: int
    used_bytes: int
    live_shards: int
    state: str
    dead_shards: int
    labels: _common_pb2.FailureDomain
    volumes: int
    sealed_volumes: int
    def __init__(self, node_id: _Optional[str] = ..., capacity_bytes: _Optional[int] = ..., used_bytes: _Optional[int] = ..., live_shards: _Optional[int] = ..., state: _Optional[str] = ..., dead_shards: _Optional[int] = ..., labels: _Optional[_Union[_common_pb2.FailureDomain, _Mapping]] = ..., volumes: _Optional[int] = ..., sealed_volumes: _Optional[int] = ...) -> None: ...
