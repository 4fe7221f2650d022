"""The token model on a real server: another local user (``nobody``) gets no token from the page or the file
and cannot switch styles (issue 18.1: it could); ``curl -H @file`` works without the token on a command line
(18.7); ``control.token_file`` keeps one token across runs and refuses files others could read or write."""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from live2diff_broadcast.control import ControlBus
from live2diff_broadcast.control.server import ControlServer
from live2diff_broadcast.control.token import (
    TOKEN_ENV,
    TokenFileError,
    load_or_create,
    new_token,
    parse_token,
    read_token,
    remove_token,
    same_token,
    token_dir,
    token_path,
    write_token,
)

from .consumer import Consumer

Server = tuple[ControlServer, Consumer]
CURL = shutil.which("curl")


@pytest.fixture
def runtime_dir(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An XDG_RUNTIME_DIR every user may traverse, so only our own 0700 / 0600 protects the token."""
    path = Path(tempfile.mkdtemp(prefix="l2d-runtime-"))
    path.chmod(0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(path))
    monkeypatch.delenv("LIVE2DIFF_CONTROL_TOKEN", raising=False)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(runtime_dir: Path) -> Iterator[Server]:
    bus = ControlBus()
    consumer = Consumer(bus)
    srv = ControlServer(bus, consumer.status, port=0)
    srv.start()
    yield srv, consumer
    srv.stop()
    consumer.stop()


NOBODY = r"""
import json, sys, urllib.request, urllib.error
port, token_file = int(sys.argv[1]), sys.argv[2]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out = {}
try:
    out["file"] = open(token_file).read()
except OSError as exc:
    out["file"] = type(exc).__name__
page = opener.open(urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Host": f"127.0.0.1:{port}"}))
out["page"] = page.read().decode()
try:
    opener.open(urllib.request.Request(f"http://127.0.0.1:{port}/style/sketch", method="POST", data=b""))
    out["post"] = 200
except urllib.error.HTTPError as exc:
    out["post"] = exc.code
print(json.dumps(out))
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as the user nobody")
def test_another_local_user_gets_no_token(server: Server) -> None:
    """Issue 18.1: ``nobody`` read the token out of the dock page and switched the style (200)."""
    srv, consumer = server
    assert srv.token_file is not None
    result = subprocess.run(["/usr/bin/python3", "-c", NOBODY, str(srv.address[1]), str(srv.token_file)], user="nobody",
                            group="nogroup", capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["file"] == "PermissionError"
    assert "token-box" in seen["page"] and srv.token not in seen["page"]
    assert seen["post"] == 401
    assert consumer.seen == []


@pytest.mark.skipif(CURL is None, reason="curl not installed (scripts/setup_system.sh installs it)")
def test_curl_with_the_token_file_as_a_header(server: Server) -> None:
    """The README's example: ``curl -H @FILE``; the token is in no process's command line."""
    srv, consumer = server
    assert srv.token_file is not None
    result = subprocess.run([str(CURL), "-s", "--noproxy", "*", "-X", "POST", "-H", f"@{srv.token_file}",
                             f"http://127.0.0.1:{srv.address[1]}/style/sketch"], capture_output=True, text=True, timeout=30)
    assert json.loads(result.stdout)["style"] == "sketch"
    assert consumer.selector.target == "sketch"


def test_token_file_formats(runtime_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_token("Authorization: Bearer abc123\n") == "abc123" == parse_token("abc123\n")
    path = token_path(7878)
    path.parent.mkdir(mode=0o700)
    path.write_text("abc123\n")  # a bare token (an older run, or written by hand) still works
    assert read_token(7878) == "abc123"
    monkeypatch.setenv("LIVE2DIFF_CONTROL_TOKEN", "from-env")
    assert read_token(7878) == "from-env"


def test_a_kept_token_survives_runs(runtime_dir: Path, tmp_path: Path) -> None:
    """control.token_file: the dock URL pasted into OBS once keeps working after the show restarts."""
    keep = tmp_path / "keep" / "dock.token"
    tokens, urls = [], []
    for _ in range(2):
        srv = ControlServer(ControlBus(), dict, port=0, token_file=keep)
        srv.start()
        tokens.append(srv.token)
        urls.append(srv.dock_url)
        assert srv.token_file is not None and parse_token(srv.token_file.read_text()) == srv.token
        srv.stop()
    assert tokens[0] == tokens[1] and len(tokens[0]) == 64
    assert urls[0].endswith(f"/#token={tokens[0]}")
    assert stat.S_IMODE(keep.stat().st_mode) == 0o600 and stat.S_IMODE(keep.parent.stat().st_mode) == 0o700
    assert keep.exists()  # kept; only the per-run file goes
    keep.unlink()
    assert load_or_create(keep) != tokens[0]  # deleting the file rotates the token


def _refused(path: Path, says: str) -> None:
    with pytest.raises(TokenFileError) as refused:
        load_or_create(path)
    assert str(path) in str(refused.value) and says in str(refused.value)


def test_token_files_others_could_use_are_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared.token"
    shared.write_text("a" * 64)
    shared.chmod(0o644)
    _refused(shared, "chmod 600")
    link = tmp_path / "link.token"
    link.symlink_to(shared)
    _refused(link, "cannot open")
    _refused(tmp_path, "not a regular file")
    fifo = tmp_path / "fifo.token"
    os.mkfifo(fifo)
    _refused(fifo, "not a regular file")  # and no wait for a writer
    junk = tmp_path / "junk.token"
    junk.write_text("not a token at all!")
    junk.chmod(0o600)
    _refused(junk, "does not hold a token")
    big = tmp_path / "big.token"
    big.write_bytes(b"a" * 10_000)
    big.chmod(0o600)
    _refused(big, "over 4096 bytes")
    binary = tmp_path / "binary.token"  # not ASCII: the same refusal, not a decoding error
    binary.write_bytes(b"Authorization: Bearer " + "é".encode() * 20 + b"\xff\n")
    binary.chmod(0o600)
    _refused(binary, "does not hold a token")
    if os.geteuid() == 0:
        theirs = tmp_path / "theirs.token"
        theirs.write_text("b" * 64)
        theirs.chmod(0o600)
        os.chown(theirs, 65534, 65534)
        _refused(theirs, "not by you")


def test_dock_url_carries_the_token_only_in_the_fragment(server: Server, caplog: Any) -> None:
    srv, _ = server
    base, fragment = srv.dock_url.split("#", 1)
    assert base == srv.url and fragment == f"token={srv.token}"


POSIX_RIGHTS = pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")


# ---- the module's functions on their own (paths, rights, comparison) ------------------------------


def test_a_token_file_of_exactly_the_size_limit_is_read(tmp_path: Path) -> None:
    """4096 bytes is allowed (the limit refuses what is over it): a header line padded with blank lines."""
    token = new_token()
    line = f"Authorization: Bearer {token}\n".encode()
    kept = tmp_path / "kept.token"
    kept.write_bytes(line + b"\n" * (4096 - len(line)))
    kept.chmod(0o600)
    assert kept.stat().st_size == 4096 and load_or_create(kept) == token


def test_the_token_lives_in_xdg_runtime_dir_else_in_the_home_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert token_path(7878) == tmp_path / "live2diff" / "control-7878.token"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert token_dir() == home / ".cache" / "live2diff"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "not-there"))
    assert token_dir() == home / ".cache" / "live2diff"


@POSIX_RIGHTS
def test_written_user_only_even_over_wider_leftovers_and_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.cache yet: its parents are made too
    token = new_token()
    path = write_token(token, 7878)
    assert path == tmp_path / "home" / ".cache" / "live2diff" / "control-7878.token"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == f"Authorization: Bearer {token}\n".encode() and read_token(7878) == token
    os.chmod(path.parent, 0o755)  # an older folder and file with wider rights are narrowed
    os.chmod(path, 0o644)
    second = new_token()
    assert write_token(second, 7878) == path and read_token(7878) == second
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv(TOKEN_ENV, " from-env ")
    assert read_token(7878) == "from-env"  # the environment wins
    monkeypatch.delenv(TOKEN_ENV)
    remove_token(path)
    assert not path.exists() and read_token(7878) is None
    remove_token(path)  # gone already: nothing to say


def test_a_token_file_that_cannot_be_removed_is_named_in_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stuck = tmp_path / "control-1.token"
    stuck.mkdir()  # a folder where the file should be: unlink fails
    with caplog.at_level(logging.WARNING, logger="live2diff_broadcast.control.token"):
        remove_token(stuck)
    assert f"could not remove the control token file {stuck}: " in caplog.text


def test_tokens_compare_in_constant_time_and_never_raise() -> None:
    token = new_token()
    assert len(token) == 64 and not token.startswith("-") and int(token, 16) >= 0
    assert same_token(token, token) and not same_token(token[:-1] + "x", token)
    assert not same_token(None, token) and not same_token("", token)
    assert not same_token("\udcff" + token[1:], token)  # not encodable as UTF-8: replaced, not an error
