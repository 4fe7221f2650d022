"""Safe loading: pickles only through weights_only; bad files give errors that name them."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch

from live2diff_broadcast.weights.errors import (
    CorruptCheckpointError,
    MissingWeightsError,
    UnsafeCheckpointError,
)
from live2diff_broadcast.weights.files import read_state_dict
from tests.weights import zoo


class _Payload:
    """Unpickling this calls os.system: a file appears if any code from the checkpoint ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "x": _Payload(marker)}, path)
    with pytest.raises(UnsafeCheckpointError) as err:
        read_state_dict(path)
    assert not marker.exists()
    message = str(err.value)
    assert str(path) in message and "allow_unsafe_pickle" in message and "run" in message
    legacy = tmp_path / "evil_legacy.pt"  # a raw (non-zip) pickle
    legacy.write_bytes(pickle.dumps({"x": _Payload(marker)}))
    with pytest.raises((UnsafeCheckpointError, CorruptCheckpointError)):
        read_state_dict(legacy)
    assert not marker.exists()


def test_plain_tensor_pickle_loads_and_unwraps_state_dict(tmp_path: Path) -> None:
    w = torch.randn(3, 4)
    torch.save({"state_dict": {"w": w}, "epoch": 1}, tmp_path / "ok.ckpt")
    assert torch.equal(read_state_dict(tmp_path / "ok.ckpt")["w"], w)


@pytest.mark.parametrize("suffix", [".safetensors", ".ckpt"])
def test_truncated_file_is_a_clear_error(tmp_path: Path, suffix: str) -> None:
    state = {"w": torch.randn(64, 64)}
    path = tmp_path / f"model{suffix}"
    if suffix == ".safetensors":
        zoo.write_safetensors(state, path)
    else:
        torch.save(state, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptCheckpointError, match="model"):
        read_state_dict(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match="nope.safetensors"):
        read_state_dict(tmp_path / "nope.safetensors")
