"""Incremental decoder for the `aws-chunked` body framing of SigV4 streaming uploads.

Byte format (one request body):

    chunk     = hex-size [ ";chunk-signature=" 64*HEX ] CRLF data CRLF      (size > 0)
    last      = "0" [ ";chunk-signature=" 64*HEX ] CRLF
    trailers  = *( name ":" value CRLF ) [ "x-amz-trailer-signature:" 64*HEX CRLF ]
    body      = *chunk last trailers CRLF

The decoder is fed arbitrary slices of the wire bytes (any TCP split point) and returns the
decoded payload pieces; memory is bounded by one header line plus the slice it was given.
When a `ChunkSigner` is supplied every chunk signature (including the last, empty one) must be
present and match, each chained from the previous one; the trailer signature, when trailers are
signed, is checked last. Framing errors raise `IncompleteBody` (truncated) or `InvalidRequest`
(malformed); signature errors raise `SignatureDoesNotMatch`. Payload bytes are handed out as they
arrive, before their chunk's signature is known: callers commit nothing until `close()` returned.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from typing import Protocol

from .errors import IncompleteBody, InvalidRequest, SignatureDoesNotMatch

MAX_LINE = 4096
"""Longest chunk-header or trailer line accepted."""

MAX_TRAILER_BYTES = 16 * 1024
"""Most bytes of trailer lines accepted."""


class ChunkSigner(Protocol):
    """Computes the expected signatures of a signed streaming body, chained from the seed."""

    def chunk_signature(self, previous: str, data_sha256_hex: str) -> str: ...
    def trailer_signature(self, previous: str, canonical_trailers: bytes) -> str: ...


class _State(enum.Enum):
    HEADER = 1
    DATA = 2
    DATA_CRLF = 3
    TRAILER = 4
    DONE = 5


class AwsChunkedDecoder:
    """Decodes one aws-chunked body. `feed` returns payload pieces; `close` checks the end."""

    def __init__(
        self,
        *,
        signer: ChunkSigner | None = None,
        seed_signature: str = "",
        signed_trailer: bool = False,
        max_chunk_size: int = 64 * 1024 * 1024,
    ) -> None:
        self._signer = signer
        self._previous = seed_signature
        self._signed_trailer = signed_trailer
        self._max_chunk = max_chunk_size
        self._buf = bytearray()
        self._state = _State.HEADER
        self._remaining = 0
        self._chunk_sig: str | None = None
        self._chunk_hash = hashlib.sha256()
        self._trailer_lines: list[bytes] = []
        self._trailer_bytes = 0
        self._trailer_sig: str | None = None
        self.decoded_length = 0
        self.trailers: dict[str, str] = {}

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Consume wire bytes; return the payload bytes they completed (possibly none)."""
        if not data:
            return []
        if self._state is _State.DONE:
            raise InvalidRequest("Unexpected data after the final aws-chunked chunk.")
        self._buf += data
        out: list[bytes] = []
        while self._step(out):
            pass
        return out

    def close(self) -> None:
        """The wire body ended: raise unless the framing (and every signature) was complete."""
        if self._state is _State.TRAILER and not self._buf and not self._signed_trailer:
            self._finish_trailers()  # tolerate a missing final CRLF after unsigned trailers
        if self._state is not _State.DONE:
            raise IncompleteBody("The request body ended inside an aws-chunked chunk.")

    # --- the state machine -------------------------------------------------------------

    def _step(self, out: list[bytes]) -> bool:
        state = self._state
        if state is _State.DONE:
            if self._buf:
                raise InvalidRequest("Unexpected data after the final aws-chunked chunk.")
            return False
        if state is _State.DATA:
            if not self._buf:
                return False
            n = min(self._remaining, len(self._buf))
            piece = bytes(self._buf[:n])
            del self._buf[:n]
            self._remaining -= n
            if self._signer is not None:
                self._chunk_hash.update(piece)
            self.decoded_length += n
            out.append(piece)
            if self._remaining == 0:
                self._state = _State.DATA_CRLF
            return True
        if state is _State.DATA_CRLF:
            if len(self._buf) < 2:
                return False
            if self._buf[:2] != b"\r\n":
                raise InvalidRequest("An aws-chunked chunk is not followed by CRLF.")
            del self._buf[:2]
            self._verify_chunk()
            self._state = _State.HEADER
            return True
        line = self._line()
        if line is None:
            return False
        if state is _State.HEADER:
            self._header(line)
        elif state is _State.TRAILER:
            if line:
                self._trailer(line)
            else:
                self._finish_trailers()
        return True

    def _line(self) -> bytes | None:
        end = self._buf.find(b"\r\n")
        if end < 0:
            if len(self._buf) > MAX_LINE:
                raise InvalidRequest("An aws-chunked header line is too long.")
            return None
        if end > MAX_LINE:
            raise InvalidRequest("An aws-chunked header line is too long.")
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        return line

    def _header(self, line: bytes) -> None:
        size_text, _, ext = line.partition(b";")
        try:
            size_str = size_text.decode("ascii").strip()
            if not size_str or any(c not in "0123456789abcdefABCDEF" for c in size_str):
                raise ValueError(size_str)
            size = int(size_str, 16)
        except (UnicodeDecodeError, ValueError):
            raise InvalidRequest("Invalid aws-chunked chunk size.") from None
        if size > self._max_chunk:
            raise InvalidRequest("An aws-chunked chunk is too large.")
        self._chunk_sig = None
        if ext:
            name, _, value = ext.partition(b"=")
            if name.strip() != b"chunk-signature":
                raise InvalidRequest("Unknown aws-chunked chunk extension.")
            self._chunk_sig = value.strip().decode("ascii", "replace")
        if self._signer is not None and self._chunk_sig is None:
            raise SignatureDoesNotMatch("An aws-chunked chunk carries no chunk-signature.")
        self._chunk_hash = hashlib.sha256()
        if size == 0:
            self._verify_chunk()
            self._state = _State.TRAILER
        else:
            self._remaining = size
            self._state = _State.DATA

    def _verify_chunk(self) -> None:
        if self._signer is None:
            return
        expected = self._signer.chunk_signature(self._previous, self._chunk_hash.hexdigest())
        if not hmac.compare_digest(expected.encode(), (self._chunk_sig or "").encode()):
            raise SignatureDoesNotMatch()
        self._previous = expected

    def _trailer(self, line: bytes) -> None:
        self._trailer_bytes += len(line) + 2
        if self._trailer_bytes > MAX_TRAILER_BYTES:
            raise InvalidRequest("The aws-chunked trailers are too large.")
        name, sep, value = line.partition(b":")
        if not sep:
            raise InvalidRequest("Malformed aws-chunked trailer.")
        key = name.strip().lower().decode("latin-1")
        text = value.strip().decode("latin-1")
        if key == "x-amz-trailer-signature":
            self._trailer_sig = text
            return
        if self._trailer_sig is not None:
            raise InvalidRequest("A trailer follows x-amz-trailer-signature.")
        self.trailers[key] = text
        self._trailer_lines.append(f"{key}:{text}\n".encode("latin-1"))

    def _finish_trailers(self) -> None:
        if self._signed_trailer and self._signer is not None:
            if self._trailer_sig is None:
                raise SignatureDoesNotMatch("The trailers carry no x-amz-trailer-signature.")
            expected = self._signer.trailer_signature(self._previous, b"".join(self._trailer_lines))
            if not hmac.compare_digest(expected.encode(), self._trailer_sig.encode()):
                raise SignatureDoesNotMatch()
        self._state = _State.DONE
