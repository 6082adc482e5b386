"""bench across processes, for real: SIGTERM during a run with --output, --isolate (a fresh process per
configuration) and --devices (DDP launched by torchrun; gloo on the CPU with 2 processes)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

FAST = ("--warmup", "0", "--min-time", "0.05", "--threads", "1")

SLOW_AT_BATCH_2 = """
import os, pathlib, time
import torch.nn as nn

class Net(nn.Module):
    # a hand-written model (its own module names): at batch 2 each forward sleeps and announces itself
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4, 10)

    def forward(self, x):
        if x.shape[0] == 2 and x.device.type == "cpu":
            pathlib.Path(os.environ["BENCH_MARKER"]).touch()
            time.sleep(0.2)
        return self.classifier(self.features(x))

def build():
    return Net()
"""


def test_sigterm_keeps_finished_results_and_exits_143(tmp_path):
    (tmp_path / "slow.py").write_text(SLOW_AT_BATCH_2)
    marker, history = tmp_path / "batch2.started", tmp_path / "out.jsonl"
    # through the real entry point; importing the CLI must not import torch, running bench never imports fvcore
    code = (
        "import sys; import resnet_cli.cli.app; assert 'torch' not in sys.modules, 'torch imported'; "
        "from resnet_cli.cli.app import main; rc = main(sys.argv[1:]); "
        "assert 'fvcore' not in sys.modules, 'fvcore imported'; sys.exit(rc)"
    )
    args = [f"{tmp_path / 'slow.py'}:build", "-i", "1x3x16x16", "-b", "1,2", *FAST, "-o", str(history), "-f", "json"]
    env = {**os.environ, "BENCH_MARKER": str(marker)}
    process = subprocess.Popen(
        [sys.executable, "-c", code, "bench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 240
    while not marker.exists():  # batch 1 is finished once batch 2's first forward runs
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "batch 2 never started"
        time.sleep(0.05)
    time.sleep(0.3)  # inside batch 2's warm-up or timing loop
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    doc = json.loads(out)
    assert doc["stopped_by"] == "SIGTERM" and doc["results"][0]["status"] == "ok"
    assert [r["batch_size"] for r in doc["results"]][0] == 1
    lines = [json.loads(line) for line in history.read_text().splitlines()]
    assert lines and lines[0]["batch_size"] == 1 and lines[0]["median_ms"] > 0
    assert "terminated (SIGTERM)" in err and "Traceback" not in err


def test_isolate_measures_each_configuration_in_a_fresh_process(cli):
    # (how repeats from several processes are merged: test_bench_units.py)
    result = cli("bench", "resnet20", *FAST, "-b", "1", "--isolate", "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    (r,) = doc["results"]
    assert doc["isolate"] is True and r["status"] == "ok" and r["n"] == len(r["samples_ms"]) >= 10
    assert r["pid"] != os.getpid() and doc["env"]["pid"] == r["pid"]  # measured, and described, by the child


def test_distributed_training_with_gloo_on_two_cpu_processes(cli):
    result = cli("bench", "resnet20", *FAST, "-b", "2", "--training", "--devices", "2", "--device", "cpu", "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    (d,) = doc["distributed"]
    (single,) = doc["results"]
    assert d["world_size"] == 2 and d["backend"] == "gloo" and d["batch_per_device"] == 2
    assert len(d["rank_medians_ms"]) == 2 and d["rank_samples"][0] == d["rank_samples"][1] >= 10  # ranks in step
    assert d["single_device_median_ms"] == pytest.approx(single["median_ms"], rel=1e-5)
    # aggregate = devices × batch / slowest rank's median; efficiency = aggregate / (devices × one device)
    aggregate = 2 * 2 / (max(d["rank_medians_ms"]) / 1e3)
    assert d["aggregate_throughput"] == pytest.approx(aggregate, rel=1e-4)
    assert d["scaling_efficiency"] == pytest.approx(aggregate / (2 * single["throughput"]), rel=1e-4)
