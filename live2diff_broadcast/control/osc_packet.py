"""A bounded OSC 1.0 decoder: one datagram -> the messages it carries, or a typed refusal.

Why our own and not python-osc's parser (python-osc still builds what clients send, and the tests
drive us with it): its bundle parser loops forever on an element size of -4 (the cursor steps
back onto the same size), its dispatcher starts a thread per bundle time-stamped in the future
(sleeping until then), and a non-UTF-8 string raises an exception it does not catch. Here every
length is checked before it is used, the cursor only moves forward, and every refusal is an
``OscRefused`` whose ``kind`` says which (the listener logs one throttled line per kind).

Bounds: a datagram over ``MAX_DATAGRAM`` bytes is ``oversized``, as are more than
``MAX_MESSAGES`` messages or ``MAX_ARGS`` arguments; bundles nested deeper than ``MAX_DEPTH``
are ``nested``; a string that is not UTF-8 is ``not_utf8``; a bundle time-stamped more than
``FUTURE_TOLERANCE_S`` ahead of this machine's clock is ``future`` (scheduled bundles are not
supported: a live control applies now or not at all); anything else that is not OSC 1.0 is
``malformed``. Time tags up to the tolerance ahead, and past ones, apply at once.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

MAX_DATAGRAM = 8 * 1024  # our longest command is a few dozen bytes
MAX_DEPTH = 4  # bundles within bundles
MAX_MESSAGES = 64  # per datagram
MAX_ARGS = 16  # per message
FUTURE_TOLERANCE_S = 1.0  # clocks of two machines differ; further ahead than this is refused
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (OSC time tags) to 1970-01-01
BUNDLE = b"#bundle\0"
KINDS = ("malformed", "oversized", "nested", "not_utf8", "future")

OscArg = int | float | str | bytes | bool | None


class OscRefused(ValueError):
    """A datagram we drop; ``kind`` is one of ``KINDS``, the message says what was wrong and where."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass(frozen=True)
class OscMessage:
    address: str
    args: tuple[OscArg, ...]


def decode(data: bytes, now_s: float | None = None) -> list[OscMessage]:
    """Every message in ``data`` (one message, or a bundle of them), in packet order.

    ``now_s``: this machine's clock as Unix seconds (``time.time()`` when None), for time tags.
    """
    if len(data) > MAX_DATAGRAM:
        raise OscRefused("oversized", f"{len(data)} bytes, over the {MAX_DATAGRAM}-byte limit")
    out: list[OscMessage] = []
    _element(bytes(data), 0, time.time() if now_s is None else now_s, out)
    return out


def _element(buf: bytes, depth: int, now_s: float, out: list[OscMessage]) -> None:
    if buf.startswith(BUNDLE):
        _bundle(buf, depth + 1, now_s, out)
    elif buf.startswith(b"/"):
        out.append(_message(buf))
        if len(out) > MAX_MESSAGES:
            raise OscRefused("oversized", f"more than {MAX_MESSAGES} messages in one packet")
    else:
        raise OscRefused("malformed", f"starts with {buf[:8]!r}; expected an address ('/...') or '#bundle'")


def _bundle(buf: bytes, depth: int, now_s: float, out: list[OscMessage]) -> None:
    if depth > MAX_DEPTH:
        raise OscRefused("nested", f"bundles nested more than {MAX_DEPTH} deep")
    if len(buf) < 16:
        raise OscRefused("malformed", f"a bundle of {len(buf)} bytes; its header alone is 16")
    seconds, fraction = struct.unpack_from(">II", buf, 8)
    at_s = seconds - NTP_UNIX_OFFSET + fraction / 2**32
    if seconds != 0 and at_s > now_s + FUTURE_TOLERANCE_S:  # seconds 0: "immediately" (time tag 1)
        raise OscRefused("future", f"a bundle time-stamped {at_s - now_s:.1f} s ahead; scheduled bundles are not "
                                   f"supported (send time tag 1, 'immediately')")
    pos = 16
    while pos < len(buf):
        if pos + 4 > len(buf):
            raise OscRefused("malformed", f"a bundle element size cut off at byte {pos}")
        (size,) = struct.unpack_from(">i", buf, pos)
        if size <= 0 or size % 4 or pos + 4 + size > len(buf):
            raise OscRefused("malformed", f"bundle element size {size} at byte {pos}; expected a positive multiple "
                                          f"of 4 that fits the {len(buf) - pos - 4} bytes left")
        pos += 4
        _element(buf[pos:pos + size], depth, now_s, out)
        pos += size


def _message(buf: bytes) -> OscMessage:
    address, pos = _string(buf, 0, "the address")
    if pos >= len(buf):
        return OscMessage(address, ())  # no type tag string (OSC 1.0 allows it): no arguments
    tags, pos = _string(buf, pos, "the type tags")
    if not tags.startswith(","):
        raise OscRefused("malformed", f"{address}: type tags {tags[:20]!r} do not start with ','")
    if len(tags) - 1 > MAX_ARGS:
        raise OscRefused("oversized", f"{address}: {len(tags) - 1} arguments, over the limit of {MAX_ARGS}")
    args: list[OscArg] = []
    for tag in tags[1:]:
        value, pos = _argument(buf, pos, tag, address)
        args.append(value)
    if pos != len(buf):
        raise OscRefused("malformed", f"{address}: {len(buf) - pos} bytes after the last argument")
    return OscMessage(address, tuple(args))


_FIXED = {"i": ">i", "f": ">f", "h": ">q", "d": ">d", "c": ">i", "r": ">I", "t": ">Q", "m": ">I"}
_CONSTANT: dict[str, OscArg] = {"T": True, "F": False, "N": None, "I": True}


def _argument(buf: bytes, pos: int, tag: str, address: str) -> tuple[OscArg, int]:
    if tag in _CONSTANT:
        return _CONSTANT[tag], pos
    if tag in ("s", "S"):
        return _string(buf, pos, f"{address}: a string argument")
    if tag in _FIXED:
        fmt = _FIXED[tag]
        size = struct.calcsize(fmt)
        _need(buf, pos, size, address)
        (value,) = struct.unpack_from(fmt, buf, pos)
        if tag == "c":
            if not 0 <= value <= 0x10FFFF:
                raise OscRefused("malformed", f"{address}: char argument {value} is not a code point")
            return chr(value), pos + size
        return value, pos + size
    if tag == "b":
        _need(buf, pos, 4, address)
        (size,) = struct.unpack_from(">i", buf, pos)
        end = pos + 4 + size
        if size < 0 or _padded(end) > len(buf):
            raise OscRefused("malformed", f"{address}: blob size {size} at byte {pos} does not fit the packet")
        return buf[pos + 4:end], _padded(end)
    raise OscRefused("malformed", f"{address}: unsupported type tag {tag!r} (supported: i f s S b h d c r m t T F N I)")


def _string(buf: bytes, pos: int, what: str) -> tuple[str, int]:
    end = buf.find(b"\0", pos)
    if end < 0:
        raise OscRefused("malformed", f"{what} at byte {pos} is not NUL-terminated")
    try:
        text = buf[pos:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OscRefused("not_utf8", f"{what} at byte {pos} is not UTF-8 ({exc.reason} at byte {pos + exc.start})") from None
    after = _padded(end + 1)
    if after > len(buf):
        raise OscRefused("malformed", f"{what} at byte {pos} is not padded to 4 bytes")
    return text, after


def _need(buf: bytes, pos: int, size: int, address: str) -> None:
    if pos + size > len(buf):
        raise OscRefused("malformed", f"{address}: an argument at byte {pos} needs {size} bytes, {len(buf) - pos} left")


def _padded(n: int) -> int:
    return (n + 3) & ~3
