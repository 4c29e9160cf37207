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


def test_bench_json_times_the_given_inputs_and_a_batch(tmp_path, capsys):
    import json
    from spikeclip_training.export import load_checkpoint
    model, cfg = load_checkpoint(FIXTURE)[:2]
    c, (h, w) = cfg.vision.in_channels, cfg.vision.image_size
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"pixels": [0.5] * (c * h * w), "ids": [1] * cfg.text.context_length}))
    assert bench.main([str(FIXTURE), "--iterations", "2", "--threads", "1", "--inputs", str(inputs), "--batch", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["threads"] == 1 and out["torch"]
    assert set(out["p50"]) == {"spiking_image", "spiking_text", "ann_image", "spiking_image_batch"}
    for k, p50 in out["p50"].items():
        assert 0 < p50 <= out["p95"][k]
