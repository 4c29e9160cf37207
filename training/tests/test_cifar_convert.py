"""The pickled CIFAR downloads convert to the binary layout without running pickle code (issue 14)."""

import os
import pickle

import numpy as np
import pytest

from spikeclip_training.cifar_convert import CIFARError, convert, main

MARKER = "/tmp/spikeclip-cifar-pickle-ran"


def _cifar10(tmp_path):
    src = tmp_path / "cifar-10-batches-py"
    src.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in ["data_batch_1", "test_batch"]:
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        labels = [3, 0, 9]
        batches[name] = (data, labels)
        with open(src / name, "wb") as f:
            pickle.dump({b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a.png"] * 3}, f, protocol=2)
    return src, batches


def test_cifar10_pickles_become_binary_records(tmp_path):
    src, batches = _cifar10(tmp_path)
    written = convert(src, tmp_path / "out")
    assert [p.name for p in written] == ["data_batch_1.bin", "test_batch.bin"]
    blob = (tmp_path / "out" / "cifar-10-batches-bin" / "test_batch.bin").read_bytes()
    data, labels = batches["test_batch"]
    assert len(blob) == 3 * 3073
    for i in range(3):
        rec = blob[i * 3073:(i + 1) * 3073]
        assert rec[0] == labels[i] and rec[1:] == data[i].tobytes()


def test_cifar100_has_coarse_and_fine_labels(tmp_path):
    src = tmp_path / "cifar-100-python"
    src.mkdir()
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    for name in ["train", "test"]:
        with open(src / name, "wb") as f:
            pickle.dump({b"data": data, b"coarse_labels": [1, 2], b"fine_labels": [42, 99]}, f)
    convert(src, tmp_path / "out")
    blob = (tmp_path / "out" / "cifar-100-binary" / "test.bin").read_bytes()
    assert blob[0:2] == bytes([1, 42]) and blob[3074:3076] == bytes([2, 99]) and blob[2:3074] == data[0].tobytes()


class _Hostile:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


def test_hostile_and_malformed_batches_are_refused(tmp_path, capsys):
    if os.path.exists(MARKER):
        os.remove(MARKER)
    src, _ = _cifar10(tmp_path)
    with open(src / "test_batch", "wb") as f:
        pickle.dump({b"data": _Hostile(), b"labels": []}, f)
    with pytest.raises(CIFARError) as e:
        convert(src, tmp_path / "out")
    assert "refused" in str(e.value) and "\n" not in str(e.value)
    assert not os.path.exists(MARKER)
    (src / "test_batch").write_bytes(b"\x80\x02not a pickle")
    assert main(["--src", str(src), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "test_batch" in err
    with open(src / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 10), np.uint8), b"labels": [1, 2]}, f)
    with pytest.raises(CIFARError, match="uint8"):
        convert(src, tmp_path / "out")
    with pytest.raises(CIFARError, match="neither"):
        convert(tmp_path, tmp_path / "out")


def test_out_of_range_labels_and_unwritable_out_are_one_line(tmp_path, capsys):
    src, _ = _cifar10(tmp_path)
    with open(src / "test_batch", "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}, f)
    with pytest.raises(CIFARError, match="0-9"):
        convert(src, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing written for a refused set"
    (tmp_path / "again").mkdir()
    _cifar10(tmp_path / "again")
    (tmp_path / "afile").write_text("x")
    assert main(["--src", str(tmp_path / "again" / "cifar-10-batches-py"), "--out", str(tmp_path / "afile")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
