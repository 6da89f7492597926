from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ChecksumAlgorithm(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECKSUM_ALGORITHM_UNSPECIFIED: _ClassVar[ChecksumAlgorithm]
    CRC32: _ClassVar[ChecksumAlgorithm]
    CRC32C: _ClassVar[ChecksumAlgorithm]
    CRC64NVME: _ClassVar[ChecksumAlgorithm]
    SHA1: _ClassVar[ChecksumAlgorithm]
    SHA256: _ClassVar[ChecksumAlgorithm]
CHECKSUM_ALGORITHM_UNSPECIFIED: ChecksumAlgorithm
CRC32: ChecksumAlgorithm
CRC32C: ChecksumAlgorithm
CRC64NVME: ChecksumAlgorithm
SHA1: ChecksumAlgorithm
SHA256: ChecksumAlgorithm

class FailureDomain(_message.Message):
    __slots__ = ("zone", "rack", "host")
    ZONE_FIELD_NUMBER: _ClassVar[int]
    RACK_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    zone: str
    rack: str
    host: str
    def __init__(self, zone: _Optional[str] = ..., rack: _Optional[str] = ..., host: _Optional[str] = ...) -> None: ...

class Checksum(_message.Message):
    __slots__ = ("algorithm", "value")
    ALGORITHM_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    algorithm: ChecksumAlgorithm
    value: bytes
    def __init__(self, algorithm: _Optional[_Union[ChecksumAlgorithm, str]] = ..., value: _Optional[bytes] = ...) -> None: ...

class ShardKey(_message.Message):
    __slots__ = ("blob_id", "index")
    BLOB_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    blob_id: bytes
    index: int
    def __init__(self, blob_id: _Optional[bytes] = ..., index: _Optional[int] = ...) -> None: ...
