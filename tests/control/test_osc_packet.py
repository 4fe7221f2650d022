"""The bounded OSC decoder: what python-osc builds decodes to the same messages; any bytes at all either decode
or raise OscRefused with a known kind (a bounded hypothesis fuzz pass, plain and mutated packets)."""

from __future__ import annotations

import struct
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

from live2diff_broadcast.control.osc_packet import (
    KINDS,
    MAX_DATAGRAM,
    MAX_DEPTH,
    OscMessage,
    OscRefused,
    decode,
)

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])

addresses = st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=30).map(lambda s: "/" + s)
arguments = st.lists(st.one_of(
    st.integers(-(2**31), 2**31 - 1),
    st.floats(width=32, allow_nan=False),
    st.text(st.characters(codec="utf-8", exclude_characters="\0"), max_size=40),
    st.binary(min_size=1, max_size=40),  # python-osc cannot build an empty blob
    st.booleans(),
), max_size=8)


def build(address: str, args: list[Any]) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return bytes(builder.build().dgram)


def decoded_or_refused(data: bytes) -> list[OscMessage] | OscRefused:
    try:
        return decode(data)
    except OscRefused as exc:
        assert exc.kind in KINDS and str(exc)
        return exc


@FUZZ
@given(addresses, arguments)
def test_python_osc_messages_round_trip(address: str, args: list[Any]) -> None:
    data = build(address, args)
    if len(data) > MAX_DATAGRAM:
        assert isinstance(decoded_or_refused(data), OscRefused)
        return
    (got,) = decode(data)
    assert got.address == address
    assert list(got.args) == args


@FUZZ
@given(st.lists(st.tuples(addresses, arguments), min_size=1, max_size=5))
def test_python_osc_bundles_round_trip(contents: list[tuple[str, list[Any]]]) -> None:
    builder = OscBundleBuilder(IMMEDIATELY)
    for address, args in contents:
        message = OscMessageBuilder(address)
        for arg in args:
            message.add_arg(arg)
        builder.add_content(message.build())
    data = bytes(builder.build().dgram)
    got = decoded_or_refused(data)
    if isinstance(got, OscRefused):
        assert got.kind == "oversized"
        return
    assert [(m.address, list(m.args)) for m in got] == [(a, args) for a, args in contents]


@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes_decode_or_are_refused(data: bytes) -> None:
    decoded_or_refused(data)


@FUZZ
@given(addresses, arguments, st.data())
def test_mutated_packets_decode_or_are_refused(address: str, args: list[Any], data: st.DataObject) -> None:
    packet = bytearray(build(address, args)[:MAX_DATAGRAM])
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(packet) - 1))
        packet[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(packet)))
    decoded_or_refused(bytes(packet[:cut]))
    bundled = b"#bundle\0" + struct.pack(">II", 0, 1) + struct.pack(">i", data.draw(st.integers(-8, 64))) + bytes(packet)
    decoded_or_refused(bundled)


@pytest.mark.parametrize(("packet", "kind", "says"), [
    (b"#bundle\0" + b"\0" * 8 + struct.pack(">i", -4) + b"abcd", "malformed", "element size -4 at byte 16"),
    (b"#bundle\0\0\0", "malformed", "header alone is 16"),
    (b"/a\0\0,x\0\0", "malformed", "unsupported type tag 'x'"),
    (b"/a\0\0,i\0\0\0\0", "malformed", "needs 4 bytes, 2 left"),
    (b"/a\0\0,s\0\0\xc3\x28\0\0", "not_utf8", "a string argument at byte 8 is not UTF-8"),
    (b"/a\0\0" + b",\0\0\0" + b"\0\0\0\0", "malformed", "4 bytes after the last argument"),
    (b"x" * (MAX_DATAGRAM + 1), "oversized", "over the 8192-byte limit"),
])
def test_refusals_say_what_and_where(packet: bytes, kind: str, says: str) -> None:
    with pytest.raises(OscRefused, match=".*") as refused:
        decode(packet)
    assert refused.value.kind == kind and says in str(refused.value)


def test_bundle_depth_and_time_tags() -> None:
    message = OscMessageBuilder("/live2diff/style")
    message.add_arg("anime")
    inner: Any = message.build()
    for depth in range(1, MAX_DEPTH + 2):
        builder = OscBundleBuilder(IMMEDIATELY)
        builder.add_content(inner)
        inner = builder.build()
        if depth <= MAX_DEPTH:
            assert [m.address for m in decode(inner.dgram)] == ["/live2diff/style"]
    with pytest.raises(OscRefused) as refused:
        decode(inner.dgram)
    assert refused.value.kind == "nested"
    now = time.time()
    for at, ok in ((now - 3600, True), (now + 0.5, True), (now + 30, False)):
        builder = OscBundleBuilder(at)
        builder.add_content(message.build())
        assert isinstance(decoded_or_refused(builder.build().dgram), list) is ok
