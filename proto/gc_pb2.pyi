from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Counter(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: int
    def __init__(self, name: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...

class PassResult(_message.Message):
    __slots__ = ("worker", "started_s", "duration_s", "counters", "error")
    WORKER_FIELD_NUMBER: _ClassVar[int]
    STARTED_S_FIELD_NUMBER: _ClassVar[int]
    DURATION_S_FIELD_NUMBER: _ClassVar[int]
    COUNTERS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    worker: str
    started_s: float
    duration_s: float
    counters: _containers.RepeatedCompositeFieldContainer[Counter]
    error: str
    def __init__(self, worker: _Optional[str] = ..., started_s: _Optional[float] = ..., duration_s: _Optional[float] = ..., counters: _Optional[_Iterable[_Union[Counter, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class WorkerStatus(_message.Message):
    __slots__ = ("name", "interval_s", "running", "passes", "totals", "last", "backlog")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_S_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    PASSES_FIELD_NUMBER: _ClassVar[int]
    TOTALS_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    name: str
    interval_s: float
    running: bool
    passes: int
    totals: _containers.RepeatedCompositeFieldContainer[Counter]
    last: PassResult
    backlog: _containers.RepeatedCompositeFieldContainer[Counter]
    def __init__(self, name: _Optional[str] = ..., interval_s: _Optional[float] = ..., running: _Optional[bool] = ..., passes: _Optional[int] = ..., totals: _Optional[_Iterable[_Union[Counter, _Mapping]]] = ..., last: _Optional[_Union[PassResult, _Mapping]] = ..., backlog: _Optional[_Iterable[_Union[Counter, _Mapping]]] = ...) -> None: ...

class RunOnceRequest(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, workers: _Optional[_Iterable[str]] = ...) -> None: ...

class RunOnceResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PassResult]
    def __init__(self, results: _Optional[_Iterable[_Union[PassResult, _Mapping]]] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("workers",)
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerStatus]
    def __init__(self, workers: _Optional[_Iterable[_Union[WorkerStatus, _Mapping]]] = ...) -> None: ...
