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

class CompactionPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPACTION_PHASE_UNSPECIFIED: _ClassVar[CompactionPhase]
    COMPACTION_PHASE_PLANNED: _ClassVar[CompactionPhase]
    COMPACTION_PHASE_COPYING: _ClassVar[CompactionPhase]
    COMPACTION_PHASE_COPIED: _ClassVar[CompactionPhase]
    COMPACTION_PHASE_SWITCHED: _ClassVar[CompactionPhase]
    COMPACTION_PHASE_OLD_REMOVED: _ClassVar[CompactionPhase]
    COMPACTION_PHASE_DONE: _ClassVar[CompactionPhase]

class ScrubState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SCRUB_STATE_UNSPECIFIED: _ClassVar[ScrubState]
    SCRUB_STATE_IDLE: _ClassVar[ScrubState]
    SCRUB_STATE_RUNNING: _ClassVar[ScrubState]
    SCRUB_STATE_PAUSED: _ClassVar[ScrubState]

class FindingKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FINDING_KIND_UNSPECIFIED: _ClassVar[FindingKind]
    FINDING_KIND_CORRUPT: _ClassVar[FindingKind]
    FINDING_KIND_MISSING: _ClassVar[FindingKind]
SHARD_STATE_UNSPECIFIED: ShardState
SHARD_STATE_LIVE: ShardState
SHARD_STATE_DEAD: ShardState
COMPACTION_PHASE_UNSPECIFIED: CompactionPhase
COMPACTION_PHASE_PLANNED: CompactionPhase
COMPACTION_PHASE_COPYING: CompactionPhase
COMPACTION_PHASE_COPIED: CompactionPhase
COMPACTION_PHASE_SWITCHED: CompactionPhase
COMPACTION_PHASE_OLD_REMOVED: CompactionPhase
COMPACTION_PHASE_DONE: CompactionPhase
SCRUB_STATE_UNSPECIFIED: ScrubState
SCRUB_STATE_IDLE: ScrubState
SCRUB_STATE_RUNNING: ScrubState
SCRUB_STATE_PAUSED: ScrubState
FINDING_KIND_UNSPECIFIED: FindingKind
FINDING_KIND_CORRUPT: FindingKind
FINDING_KIND_MISSING: FindingKind

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

class ShardError(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class PutShardsRequest(_message.Message):
    __slots__ = ("shards",)
    SHARDS_FIELD_NUMBER: _ClassVar[int]
    shards: _containers.RepeatedCompositeFieldContainer[PutShardRequest]
    def __init__(self, shards: _Optional[_Iterable[_Union[PutShardRequest, _Mapping]]] = ...) -> None: ...

class PutShardsResult(_message.Message):
    __slots__ = ("stored", "error")
    STORED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    stored: PutShardResponse
    error: ShardError
    def __init__(self, stored: _Optional[_Union[PutShardResponse, _Mapping]] = ..., error: _Optional[_Union[ShardError, _Mapping]] = ...) -> None: ...

class PutShardsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PutShardsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[PutShardsResult, _Mapping]]] = ...) -> None: ...

class ReadShardsRequest(_message.Message):
    __slots__ = ("reads",)
    READS_FIELD_NUMBER: _ClassVar[int]
    reads: _containers.RepeatedCompositeFieldContainer[ReadShardRequest]
    def __init__(self, reads: _Optional[_Iterable[_Union[ReadShardRequest, _Mapping]]] = ...) -> None: ...

class ShardRange(_message.Message):
    __slots__ = ("piece", "offset", "shard_length")
    PIECE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    SHARD_LENGTH_FIELD_NUMBER: _ClassVar[int]
    piece: ShardPiece
    offset: int
    shard_length: int
    def __init__(self, piece: _Optional[_Union[ShardPiece, _Mapping]] = ..., offset: _Optional[int] = ..., shard_length: _Optional[int] = ...) -> None: ...

class ReadShardsResult(_message.Message):
    __slots__ = ("range", "error")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    range: ShardRange
    error: ShardError
    def __init__(self, range: _Optional[_Union[ShardRange, _Mapping]] = ..., error: _Optional[_Union[ShardError, _Mapping]] = ...) -> None: ...

class ReadShardsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ReadShardsResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ReadShardsResult, _Mapping]]] = ...) -> None: ...

class DeleteShardsRequest(_message.Message):
    __slots__ = ("keys", "release")
    KEYS_FIELD_NUMBER: _ClassVar[int]
    RELEASE_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[_common_pb2.ShardKey]
    release: bool
    def __init__(self, keys: _Optional[_Iterable[_Union[_common_pb2.ShardKey, _Mapping]]] = ..., release: _Optional[bool] = ...) -> None: ...

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

class CompactionJob(_message.Message):
    __slots__ = ("job_id", "source", "target", "phase", "source_bytes", "scanned_bytes", "copied_bytes")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SCANNED_BYTES_FIELD_NUMBER: _ClassVar[int]
    COPIED_BYTES_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    source: int
    target: int
    phase: CompactionPhase
    source_bytes: int
    scanned_bytes: int
    copied_bytes: int
    def __init__(self, job_id: _Optional[int] = ..., source: _Optional[int] = ..., target: _Optional[int] = ..., phase: _Optional[_Union[CompactionPhase, str]] = ..., source_bytes: _Optional[int] = ..., scanned_bytes: _Optional[int] = ..., copied_bytes: _Optional[int] = ...) -> None: ...

class CompactionResult(_message.Message):
    __slots__ = ("job_id", "source", "target", "outcome", "source_bytes", "target_bytes", "records", "started_at", "finished_at")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_BYTES_FIELD_NUMBER: _ClassVar[int]
    TARGET_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    job_id: int
    source: int
    target: int
    outcome: str
    source_bytes: int
    target_bytes: int
    records: int
    started_at: float
    finished_at: float
    def __init__(self, job_id: _Optional[int] = ..., source: _Optional[int] = ..., target: _Optional[int] = ..., outcome: _Optional[str] = ..., source_bytes: _Optional[int] = ..., target_bytes: _Optional[int] = ..., records: _Optional[int] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ...) -> None: ...

class CompactionPass(_message.Message):
    __slots__ = ("started_at", "finished_at", "volumes", "results")
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    started_at: float
    finished_at: float
    volumes: _containers.RepeatedScalarFieldContainer[int]
    results: _containers.RepeatedCompositeFieldContainer[CompactionResult]
    def __init__(self, started_at: _Optional[float] = ..., finished_at: _Optional[float] = ..., volumes: _Optional[_Iterable[int]] = ..., results: _Optional[_Iterable[_Union[CompactionResult, _Mapping]]] = ...) -> None: ...

class CompactionStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CompactionStatusResponse(_message.Message):
    __slots__ = ("enabled", "running", "current", "last_pass", "compacted", "aborted", "reclaimed_bytes", "recent")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    LAST_PASS_FIELD_NUMBER: _ClassVar[int]
    COMPACTED_FIELD_NUMBER: _ClassVar[int]
    ABORTED_FIELD_NUMBER: _ClassVar[int]
    RECLAIMED_BYTES_FIELD_NUMBER: _ClassVar[int]
    RECENT_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    running: bool
    current: CompactionJob
    last_pass: CompactionPass
    compacted: int
    aborted: int
    reclaimed_bytes: int
    recent: _containers.RepeatedCompositeFieldContainer[CompactionResult]
    def __init__(self, enabled: _Optional[bool] = ..., running: _Optional[bool] = ..., current: _Optional[_Union[CompactionJob, _Mapping]] = ..., last_pass: _Optional[_Union[CompactionPass, _Mapping]] = ..., compacted: _Optional[int] = ..., aborted: _Optional[int] = ..., reclaimed_bytes: _Optional[int] = ..., recent: _Optional[_Iterable[_Union[CompactionResult, _Mapping]]] = ...) -> None: ...

class CompactRequest(_message.Message):
    __slots__ = ("volume", "dead_fraction", "min_dead_bytes")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    DEAD_FRACTION_FIELD_NUMBER: _ClassVar[int]
    MIN_DEAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    volume: int
    dead_fraction: float
    min_dead_bytes: int
    def __init__(self, volume: _Optional[int] = ..., dead_fraction: _Optional[float] = ..., min_dead_bytes: _Optional[int] = ...) -> None: ...

class CompactProgress(_message.Message):
    __slots__ = ("started", "job")
    STARTED_FIELD_NUMBER: _ClassVar[int]
    PASS_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    started: bool
    job: CompactionJob
    def __init__(self, started: _Optional[bool] = ..., job: _Optional[_Union[CompactionJob, _Mapping]] = ..., **kwargs) -> None: ...

class VolumeScrub(_message.Message):
    __slots__ = ("volume", "scrubbed_at", "bytes", "records", "damaged", "findings", "error")
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    SCRUBBED_AT_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    DAMAGED_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    volume: int
    scrubbed_at: float
    bytes: int
    records: int
    damaged: int
    findings: int
    error: str
    def __init__(self, volume: _Optional[int] = ..., scrubbed_at: _Optional[float] = ..., bytes: _Optional[int] = ..., records: _Optional[int] = ..., damaged: _Optional[int] = ..., findings: _Optional[int] = ..., error: _Optional[str] = ...) -> None: ...

class ScrubStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScrubStatusResponse(_message.Message):
    __slots__ = ("state", "enabled", "rate_mib_s", "current_volume", "pass_started_at", "pass_finished_at", "pass_volumes_done", "pass_volumes_total", "pass_bytes", "findings", "volumes")
    STATE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    RATE_MIB_S_FIELD_NUMBER: _ClassVar[int]
    CURRENT_VOLUME_FIELD_NUMBER: _ClassVar[int]
    PASS_STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    PASS_FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    PASS_VOLUMES_DONE_FIELD_NUMBER: _ClassVar[int]
    PASS_VOLUMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PASS_BYTES_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    state: ScrubState
    enabled: bool
    rate_mib_s: float
    current_volume: int
    pass_started_at: float
    pass_finished_at: float
    pass_volumes_done: int
    pass_volumes_total: int
    pass_bytes: int
    findings: int
    volumes: _containers.RepeatedCompositeFieldContainer[VolumeScrub]
    def __init__(self, state: _Optional[_Union[ScrubState, str]] = ..., enabled: _Optional[bool] = ..., rate_mib_s: _Optional[float] = ..., current_volume: _Optional[int] = ..., pass_started_at: _Optional[float] = ..., pass_finished_at: _Optional[float] = ..., pass_volumes_done: _Optional[int] = ..., pass_volumes_total: _Optional[int] = ..., pass_bytes: _Optional[int] = ..., findings: _Optional[int] = ..., volumes: _Optional[_Iterable[_Union[VolumeScrub, _Mapping]]] = ...) -> None: ...

class ScrubStartRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScrubStartResponse(_message.Message):
    __slots__ = ("started",)
    STARTED_FIELD_NUMBER: _ClassVar[int]
    started: bool
    def __init__(self, started: _Optional[bool] = ...) -> None: ...

class ScrubPauseRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScrubPauseResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ScrubFinding(_message.Message):
    __slots__ = ("key", "pg", "volume", "offset", "kind", "detail", "found_at")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PG_FIELD_NUMBER: _ClassVar[int]
    VOLUME_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    FOUND_AT_FIELD_NUMBER: _ClassVar[int]
    key: _common_pb2.ShardKey
    pg: int
    volume: int
    offset: int
    kind: FindingKind
    detail: str
    found_at: float
    def __init__(self, key: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ..., pg: _Optional[int] = ..., volume: _Optional[int] = ..., offset: _Optional[int] = ..., kind: _Optional[_Union[FindingKind, str]] = ..., detail: _Optional[str] = ..., found_at: _Optional[float] = ...) -> None: ...

class ListScrubFindingsRequest(_message.Message):
    __slots__ = ("after", "limit")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    after: _common_pb2.ShardKey
    limit: int
    def __init__(self, after: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class ListScrubFindingsResponse(_message.Message):
    __slots__ = ("findings", "next")
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_FIELD_NUMBER: _ClassVar[int]
    findings: _containers.RepeatedCompositeFieldContainer[ScrubFinding]
    next: _common_pb2.ShardKey
    def __init__(self, findings: _Optional[_Iterable[_Union[ScrubFinding, _Mapping]]] = ..., next: _Optional[_Union[_common_pb2.ShardKey, _Mapping]] = ...) -> None: ...
