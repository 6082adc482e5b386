"""`resnet-cli bench` as a user meets it: statistics, the JSON document, output files, CUDA paths (mocked),
memory refusal, OOM in a sweep, Ctrl-C, bad input. No test asserts a duration."""

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from resnet_cli import bench
from resnet_cli.bench import BatchResult, BenchRequest, Peak, Stats, sample_stats

TINY = ("resnet20", "--warmup", "0.02", "--min-time", "0.1", "--threads", "1")  # CIFAR ResNet-20 at 1x3x32x32
REQUIRED_RESULT_KEYS = {"batch_size", "median_ms", "p90_ms", "iqr_ms", "throughput", "gflops_per_s", "n",
                        "p10_ms", "min_ms", "pct_of_peak", "first_call_ms", "samples_ms", "status"}


@pytest.fixture()
def fixed_peak(monkeypatch):
    """The GEMM peak is measured for real in two tests; elsewhere a fixed one keeps the file fast."""
    peak = Peak(gflops_per_s=100.0, median_gflops_per_s=90.0, size=64, dtype="float32", n=5, method="fixed (test)")
    monkeypatch.setattr(bench, "measured_gemm_peak", lambda *args, **kwargs: peak)
    return peak


def _one_line_error(result, code, *fragments):
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def _doc(cli, *args):
    result = cli("bench", *TINY, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    for line in result.stderr.strip().splitlines():  # only warnings, no progress residue when not a terminal
        assert line.startswith("warning: ") or line.startswith(" "), result.stderr
    return json.loads(result.stdout)


# ---- statistics against a hand calculation ----

def test_statistics_match_a_hand_calculation():
    # samples 1..10 ms in random order. Linear interpolation between closest ranks (numpy's default):
    # position = q * (n - 1); p10 -> 0.9 -> 1 + 0.9 = 1.9; p25 -> 2.25 -> 3.25; median -> 4.5 -> 5.5;
    # p75 -> 6.75 -> 7.75; p90 -> 8.1 -> 9.1; IQR = 7.75 - 3.25 = 4.5; mean = 55 / 10 = 5.5
    samples = [float(v) for v in range(1, 11)]
    random.Random(0).shuffle(samples)
    s = sample_stats(samples)
    assert (s.n, s.min_ms, s.max_ms) == (10, 1.0, 10.0)
    assert s.p10_ms == pytest.approx(1.9) and s.p25_ms == pytest.approx(3.25)
    assert s.median_ms == pytest.approx(5.5) and s.mean_ms == pytest.approx(5.5)
    assert s.p75_ms == pytest.approx(7.75) and s.p90_ms == pytest.approx(9.1)
    assert s.iqr_ms == pytest.approx(4.5) and s.rel_iqr == pytest.approx(4.5 / 5.5)
    # odd count: the median is the middle sample; one sample: every statistic is that sample
    assert sample_stats([3.0, 1.0, 2.0]).median_ms == 2.0
    assert sample_stats([7.0]).p90_ms == 7.0 and sample_stats([]) is None


def test_derived_figures_and_host_bound_flag():
    # batch 8 at a 40 ms median: 8 / 0.040 = 200 img/s; 8.178 GFLOP per image -> 65.424 GFLOP / 0.040 s
    # = 1635.6 GFLOP/s; against a 2000 GFLOP/s peak that is 81.78 %
    host = Stats(n=10, median_ms=40.0, mean_ms=40.0, min_ms=39.0, max_ms=41.0, p10_ms=39.5, p25_ms=39.8,
                 p75_ms=40.2, p90_ms=40.5)
    gpu = Stats(n=10, median_ms=38.0, mean_ms=38.0, min_ms=37.0, max_ms=39.0, p10_ms=37.5, p25_ms=37.8,
                p75_ms=38.2, p90_ms=38.5)
    r = BatchResult(8, "ok", host=host, gpu=gpu, enqueue_median_ms=5.0, flops_per_batch=8 * 8_178_000_000,
                    peak_gflops_per_s=2000.0)
    assert r.throughput == pytest.approx(200.0)
    assert r.gflops_per_s == pytest.approx(1635.6)
    assert r.pct_of_peak == pytest.approx(81.78)
    assert r.host_bound is False  # the launches (5 ms) ran far ahead of the GPU (38 ms)
    bound = BatchResult(1, "ok", host=host, gpu=gpu, enqueue_median_ms=36.0)
    assert bound.host_bound is True  # the GPU waited for Python to launch its kernels
    assert BatchResult(1, "ok", host=host).host_bound is None  # CPU: no GPU time


def test_flops_and_activations_are_linear_in_batch_size():
    # bench counts once at batch 1 and scales; check that this is exact for these models
    from resnet_cli.report import totals
    from resnet_cli.target import analyze_target, resolve_target

    _, one = analyze_target(resolve_target("resnet18", {}, (1, 3, 64, 64)))
    _, three = analyze_target(resolve_target("resnet18", {}, (3, 3, 64, 64)))
    assert totals(three).macs == 3 * totals(one).macs
    assert totals(three).all_flops == 3 * totals(one).all_flops
    assert three.peak_activation_bytes(4) == 3 * one.peak_activation_bytes(4)


# ---- the JSON document, the table, output files ----

def test_json_document_and_figures(cli, fixed_peak):
    doc = _doc(cli, "--batch-size", "1,2")
    assert {"model", "device", "env", "results", "peak", "sample_shape", "flops_per_image"} <= doc.keys()
    assert doc["model"] == "resnet20" and doc["device"] == "cpu" and doc["sample_shape"] == [3, 32, 32]
    env = doc["env"]
    assert {"torch", "device_name", "cuda", "cudnn", "cpu_model", "threads", "flags"} <= env.keys()
    assert env["torch"] == torch.__version__ and env["threads"] == 1
    assert env["flags"]["dtype"] == "float32" and env["flags"]["channels_last"] is False
    summary = json.loads(cli("summary", "resnet20", "--format", "json").stdout)
    assert doc["flops_per_image"] == summary["total"]["flops_2x_macs"]  # 2 per MAC, from the one analysis core
    assert [r["batch_size"] for r in doc["results"]] == [1, 2]
    for r in doc["results"]:
        assert REQUIRED_RESULT_KEYS <= r.keys() and r["status"] == "ok"
        assert r["n"] >= 10 and len(r["samples_ms"]) == r["n"]
        assert r["min_ms"] <= r["p10_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert sample_stats(r["samples_ms"]).median_ms == pytest.approx(r["median_ms"], rel=1e-5)
        assert r["throughput"] == pytest.approx(r["batch_size"] / (r["median_ms"] / 1e3), rel=1e-5)
        assert r["flops_per_batch"] == r["batch_size"] * doc["flops_per_image"]
        assert r["gflops_per_s"] == pytest.approx(r["flops_per_batch"] / (r["median_ms"] / 1e3) / 1e9, rel=1e-5)
        assert r["pct_of_peak"] == pytest.approx(100 * r["gflops_per_s"] / fixed_peak.gflops_per_s, rel=1e-5)
        assert r["gpu_median_ms"] is None and r["host_bound"] is None and r["compile_s"] is None


def test_table_markdown_and_csv_output_append(cli, fixed_peak, tmp_path):
    target = tmp_path / "history.csv"
    for _ in range(2):
        result = cli("bench", *TINY, "-b", "1", "--output", str(target))
        assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "median" in out and "img/s" in out and "% peak" in out and "GFLOP/s" in out
    assert "2 per multiply-accumulate" in out and "inference_mode" in out and "1 thread" in out
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 2 and rows[0]["model"] == "resnet20" and rows[0]["batch_size"] == "1"
    assert float(rows[1]["median_ms"]) > 0 and rows[1]["timestamp"]
    markdown = cli("bench", *TINY, "-b", "1", "--format", "markdown", "--dtype", "bf16", "--channels-last")
    assert markdown.exit_code == 0, markdown.stderr
    assert "| batch |" in markdown.stdout and "bfloat16 via torch.autocast" in markdown.stdout
    assert "channels-last" in markdown.stdout


def test_csv_stdout_and_jsonl_append(cli, fixed_peak, tmp_path):
    target = tmp_path / "history.jsonl"
    result = cli("bench", *TINY, "-b", "1", "--format", "csv", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 1 and rows[0]["dtype"] == "float32" and float(rows[0]["throughput"]) > 0
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 1 and records[0]["batch_size"] == 1 and "env" in records[0]
    assert records[0]["timestamp"] and records[0]["median_ms"] > 0


def test_real_gemm_peak_is_measured_in_the_run(cli):
    doc = _doc(cli, "-b", "1")
    peak = doc["peak"]
    assert peak["dtype"] == "float32" and peak["n"] >= 5 and peak["gflops_per_s"] > 0
    assert "1 thread" in peak["method"]
    assert doc["results"][0]["peak_gflops_per_s"] == peak["gflops_per_s"]


def test_compile_time_is_reported_separately(cli, fixed_peak, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(kw) or model)  # no 30 s inductor run
    doc = _doc(cli, "-b", "1,2", "--compile")
    assert calls == [{"dynamic": False}] * 2  # compiled once per batch size
    assert all(r["compile_s"] is not None and r["compile_s"] > 0 for r in doc["results"])
    assert doc["env"]["flags"]["compile"] is True


# ---- safety: memory, OOM, Ctrl-C ----

def test_configuration_that_cannot_fit_is_refused_before_allocating(cli):
    # resnet50 keeps ~11 MB of activations alive per 224x224 image: 100,000 images need terabytes
    _one_line_error(cli("bench", "resnet50", "-b", "100000", "--device", "cpu"), 1, "cannot fit", "GiB")


def test_batch_sizes_that_cannot_fit_are_skipped_and_the_rest_measured(cli, fixed_peak, monkeypatch):
    monkeypatch.setattr(bench, "available_memory", lambda device: (200 * 2**20, "available RAM (test)"))
    doc = _doc(cli, "-b", "1,100000")
    statuses = {r["batch_size"]: r["status"] for r in doc["results"]}
    assert statuses == {1: "ok", 100000: "refused"}


def test_cuda_memory_refusal_uses_free_cuda_memory(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (64 * 2**20, 80 * 2**30))
    _one_line_error(cli("bench", "resnet50", "--device", "cuda", "-b", "64"), 1, "free CUDA memory", "cannot fit")


def test_out_of_memory_is_reported_per_batch_and_the_sweep_goes_on(cli, fixed_peak, monkeypatch):
    real = bench.make_input

    def failing(batch_size, *args):
        if batch_size == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(batch_size, *args)

    monkeypatch.setattr(bench, "make_input", failing)
    result = cli("bench", *TINY, "-b", "1,2,3", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(r["batch_size"], r["status"]) for r in doc["results"]] == [(1, "ok"), (2, "oom"), (3, "ok")]
    assert "batch 2: out of memory" in result.stderr
    # nothing measurable at all: one line, exit 1
    monkeypatch.setattr(bench, "make_input", lambda *a: (_ for _ in ()).throw(
        torch.cuda.OutOfMemoryError("CUDA out of memory")))
    _one_line_error(cli("bench", *TINY, "-b", "1,2"), 1, "nothing could be measured", "out of memory")


def test_ctrl_c_prints_what_was_measured_so_far(cli, fixed_peak, monkeypatch):
    real_input, real_wait = bench.make_input, bench.run_queue_wait_ns
    state = {"batch": 0, "reads": 0}

    def track(batch_size, *args):
        state["batch"] = batch_size
        return real_input(batch_size, *args)

    def wait():
        if state["batch"] == 2:
            state["reads"] += 1
            if state["reads"] == 7:  # two reads per sample: Ctrl-C during the 4th sample of batch 2
                raise KeyboardInterrupt
        return real_wait()

    monkeypatch.setattr(bench, "make_input", track)
    monkeypatch.setattr(bench, "run_queue_wait_ns", wait)
    result = cli("bench", *TINY, "-b", "1,2,4", "--format", "json")
    assert result.exit_code == 130
    doc = json.loads(result.stdout)
    assert doc["interrupted"] is True
    assert [(r["batch_size"], r["status"]) for r in doc["results"]] == [(1, "ok"), (2, "interrupted")]
    assert doc["results"][1]["n"] == 3
    assert "interrupted" in result.stderr


# ---- CUDA paths without a GPU ----

def test_device_cuda_without_cuda_is_one_line_exit_1(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    _one_line_error(cli("bench", "resnet20", "--device", "cuda"), 1, "CUDA is not available", "--device cpu")
    _one_line_error(cli("bench", "resnet20", "--device", "cuda:1"), 1, "CUDA is not available")


def test_cuda_index_beyond_the_devices_is_one_line_exit_1(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    _one_line_error(cli("bench", "resnet20", "--device", "cuda:3"), 1, "1 CUDA device")


def test_auto_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench.resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bench.resolve_device("auto") == "cuda:0"


def test_cuda_timing_loop_records_events_beside_host_time(monkeypatch):
    """The CUDA branch of the loop, run on the CPU with fake events: GPU time and enqueue time are kept per
    iteration, each iteration is synchronized, and the host-bound flag follows."""
    synced = []

    class FakeEvent:
        clock = 0.0

        def __init__(self, enable_timing=False):
            assert enable_timing
            self.at = None

        def record(self):
            FakeEvent.clock += 1.5  # each record moves a fake GPU clock by 1.5 ms
            self.at = FakeEvent.clock

        def elapsed_time(self, other):
            return other.at - self.at

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: synced.append(1))
    request = BenchRequest(target=None, device="cuda:0", batch_sizes=(1,), warmup_s=0.0, min_time_s=0.0)
    samples = bench._Samples()
    bench._timing_loop(lambda: torch.ones(1), request, samples, bench._no_progress, 1)
    result = bench._result_from(samples, 1, "ok", {})
    assert result.gpu.n == result.host.n == bench.MIN_SAMPLES
    assert result.gpu.median_ms == pytest.approx(1.5)
    assert len(synced) == 1 + bench.MIN_WARMUP_ITERS + bench.MIN_SAMPLES  # first call, warm-up, samples
    assert result.enqueue_median_ms is not None and result.host_bound is not None


# ---- bad input: one line, exit 2 ----

@pytest.mark.parametrize("args, fragment", [
    (("-b", "0"), "--batch-size '0'"),
    (("-b", "1,x"), "'x' is not an integer"),
    (("--device", "tpu"), "--device 'tpu' is not accepted"),
    (("--device", "cuda:x"), "cuda:N"),
    (("--dtype", "fp8"), "--dtype 'fp8' is not accepted"),
    (("--threads", "0"), "--threads 0"),
    (("--min-time", "0"), "--min-time"),
    (("--warmup", "-1"), "--warmup"),
    (("--output", "results.txt"), ".jsonl"),
    (("--format", "yaml"), "--format 'yaml'"),
    (("--input", "1x4x224x224"), "channels"),
])
def test_bad_input_is_one_line_exit_2(cli, args, fragment):
    _one_line_error(cli("bench", "resnet50", *args), 2, fragment)


def _entry_point() -> str:
    return str(Path(sys.executable).with_name("resnet-cli"))


def test_installed_entry_point_and_no_heavy_imports():
    bad = subprocess.run([_entry_point(), "bench", "--device", "tpu"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    # importing the command does not import torch; running it never imports fvcore (absent on GPU machines)
    code = ("import sys; import resnet_cli.cli; assert 'torch' not in sys.modules, 'torch imported'; "
            "from resnet_cli.cli import main; "
            "rc = main(['bench', 'resnet20', '-b', '1', '--warmup', '0', '--min-time', '0.05', '-f', 'json']); "
            "assert 'fvcore' not in sys.modules, 'fvcore imported'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"][0]["status"] == "ok"
