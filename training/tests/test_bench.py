"""The PyTorch reference timings printed by ``spikeclip bench``."""

from pathlib import Path

from spikeclip_training import bench

FIXTURE = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "tiny-default" / "model.safetensors"


def test_bench_prints_three_timed_lines(capsys):
    assert bench.main([str(FIXTURE), "--iterations", "2", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("PyTorch ") and "1 threads" in lines[0]
    timed = [l for l in lines if l.startswith("torch: ")]
    assert len(timed) == 3
    for line in timed:
        p50 = float(line.split("p50")[1].split("ms")[0])
        p95 = float(line.split("p95")[1].split("ms")[0])
        assert 0 < p50 <= p95


def test_bench_rejects_zero_iterations(capsys):
    assert bench.main([str(FIXTURE), "--iterations", "0"]) == 2
    assert "iterations" in capsys.readouterr().err
