"""`resnet-cli bench` as a user meets it: the JSON document, the table, output files, several models side by
side, training steps and their memory, compile modes, repeats, the roofline rule, CUDA paths (mocked), memory
refusal, OOM in a sweep, Ctrl-C, bad input. Figures are checked against `statistics`, torch's FlopCounterMode
or hand calculations. No test asserts a duration."""

import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import assert_one_line_error

from resnet_cli.benchmark import bench, measure
from resnet_cli.benchmark import loop as bench_loop
from resnet_cli.benchmark import system as bench_system
from resnet_cli.benchmark.loop import Samples
from resnet_cli.benchmark.peak import KernelRate, Roofline
from resnet_cli.benchmark.records import BenchRequest

FAST = ("--warmup", "0", "--min-time", "0.05", "--threads", "1")
TINY = ("resnet20", *FAST)  # CIFAR ResNet-20 at 1x3x32x32
REQUIRED_RESULT_KEYS = {
    "model",
    "batch_size",
    "median_ms",
    "p90_ms",
    "iqr_ms",
    "throughput",
    "gflops_per_s",
    "n",
    "p10_ms",
    "min_ms",
    "pct_of_peak",
    "first_call_ms",
    "samples_ms",
    "status",
    "measured_bytes",
    "predicted_bytes",
    "memory_ratio",
    "roofline_gflops_per_s",
    "repeat_spread",
}
PEAK = 100.0


class FixedRoofline:
    """The roofline's kernels are timed for real in two tests; elsewhere a fixed one keeps the file fast."""

    def __init__(self, *args, **kwargs):
        pass

    def sample(self, kernels=(), first=False, gemm=False):
        pass

    def unsampled(self, kernels):
        return []

    def conv_kernels(self, analysis, batch):
        return []

    def gemm_rate(self):
        return KernelRate("fixed (test)", 1, PEAK, PEAK, 5)

    def roofline(self, kernels=()):
        return Roofline(PEAK, "fixed (test)", (self.gemm_rate(),), "fixed (test)")


@pytest.fixture()
def fixed_roofline(monkeypatch):
    monkeypatch.setattr(measure, "RooflineSampler", FixedRoofline)


def _doc(cli, *args, wrote=None):
    result = cli("bench", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    if wrote is not None:  # every written file announced the same way, before the warnings
        assert lines[0] == f"wrote {wrote}", result.stderr
        lines = lines[1:]
    for line in lines:  # only warnings, no progress residue when not a terminal
        assert line.startswith("warning: ") or line.startswith(" "), result.stderr
    return json.loads(result.stdout)


def _percentile(samples, k):
    return statistics.quantiles(samples, n=100, method="inclusive")[k - 1]


# ---- the JSON document, the table, output files ----


def test_json_document_and_figures(cli, fixed_roofline):
    doc = _doc(cli, *TINY, "--batch-size", "1,2")
    assert doc["command"] == "bench" and doc["mode"] == "inference" and doc["device"] == "cpu"
    (model,) = doc["models"]
    assert model["model"] == "resnet20" and model["sample_shape"] == [3, 32, 32]
    env = doc["env"]
    assert {"torch", "device_name", "cuda", "cudnn", "cpu_model", "threads", "flags", "pid"} <= env.keys()
    assert env["torch"] == torch.__version__ and env["threads"] == 1
    assert env["flags"]["dtype"] == "float32" and env["flags"]["channels_last"] is False
    from torch.utils.flop_counter import FlopCounterMode

    from resnet_cli.nn.model import build_model
    from resnet_cli.spec.registry import VARIANTS

    counter = FlopCounterMode(display=False)  # torch's own counter: 2 per multiply-add, conv and linear
    with counter, torch.no_grad():
        build_model(VARIANTS["resnet20"].spec).eval()(torch.randn(1, 3, 32, 32))
    assert model["flops_per_image"] == counter.get_total_flops()
    assert [r["batch_size"] for r in doc["results"]] == [1, 2]
    for r in doc["results"]:
        samples = r["samples_ms"]
        assert REQUIRED_RESULT_KEYS <= r.keys() and r["status"] == "ok" and r["pid"] == os.getpid()
        assert r["n"] >= 10 and len(samples) == r["n"]
        assert r["median_ms"] == pytest.approx(statistics.median(samples), rel=1e-5)
        assert r["p10_ms"] == pytest.approx(_percentile(samples, 10), rel=1e-5)
        assert r["p90_ms"] == pytest.approx(_percentile(samples, 90), rel=1e-5)
        assert r["min_ms"] == pytest.approx(min(samples), rel=1e-5)
        assert r["throughput"] == pytest.approx(r["batch_size"] / (r["median_ms"] / 1e3), rel=1e-5)
        assert r["flops_per_batch"] == r["batch_size"] * model["flops_per_image"]
        assert r["gflops_per_s"] == pytest.approx(r["flops_per_batch"] / (r["median_ms"] / 1e3) / 1e9, rel=1e-5)
        assert r["pct_of_peak"] == pytest.approx(100 * r["gflops_per_s"] / PEAK, rel=1e-5)
        assert r["gpu_median_ms"] is None and r["host_bound"] is None and r["compile_s"] is None
        assert r["memory_ratio"] == pytest.approx(r["measured_bytes"] / r["predicted_bytes"], rel=1e-5)
        parts = ("weights", "gradient", "optimizer", "activation", "input")
        assert r["predicted_bytes"] == sum(r[f"predicted_{p}_bytes"] for p in parts)
        assert r["predicted_input_bytes"] == r["batch_size"] * 3 * 32 * 32 * 4  # the float32 input
        assert r["repeat_spread"] is None and len(r["repeat_medians_ms"]) == 1


def test_table_markdown_and_csv_output_append(cli, fixed_roofline, tmp_path, monkeypatch):
    target = tmp_path / "history.csv"
    monkeypatch.setenv("COLUMNS", "80")
    for _ in range(2):
        result = cli("bench", *TINY, "-b", "1", "--output", str(target))
        assert result.exit_code == 0, result.stderr
    out = " ".join(result.stdout.split())  # sentences wrap at 80 columns
    assert "median" in out and "img/s" in out and "% peak" in out and "GFLOP/s" in out and "memory" in out
    assert "2 per multiply-accumulate" in out and "inference_mode" in out and "1 thread" in out
    assert max(len(line) for line in result.stdout.splitlines()) <= 80  # the table fits; sentences wrap
    rows = list(csv.DictReader(target.open()))
    assert len(rows) == 2 and rows[0]["model"] == "resnet20" and rows[0]["batch_size"] == "1"
    assert float(rows[1]["median_ms"]) > 0 and rows[1]["timestamp"] and rows[1]["mode"] == "inference"
    markdown = cli("bench", *TINY, "-b", "1", "--format", "markdown", "--dtype", "bf16", "--channels-last")
    assert markdown.exit_code == 0, markdown.stderr
    assert "| batch |" in markdown.stdout and "bfloat16 via torch.autocast" in markdown.stdout
    assert "channels-last" in markdown.stdout


def test_csv_stdout_and_jsonl_append(cli, fixed_roofline, tmp_path):
    target = tmp_path / "history.jsonl"
    target.write_text('{"earlier": "run"}\n')
    result = cli("bench", *TINY, "-b", "1", "--format", "csv", "-o", str(target))
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(result.stdout.splitlines()))
    assert len(rows) == 1 and rows[0]["dtype"] == "float32" and float(rows[0]["throughput"]) > 0
    records = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(records) == 2 and records[1]["batch_size"] == 1 and "env" in records[1]
    assert records[1]["timestamp"] and records[1]["median_ms"] > 0


@pytest.mark.parametrize(
    "make, code, fragment",
    [
        (lambda p: (p / "d.jsonl").mkdir() or p / "d.jsonl", 2, "is a directory"),
        (lambda p: Path("/proc/x.jsonl"), 2, "cannot be created"),
        (lambda p: (p / "h.csv").write_text("a,b\n1,2\n") and p / "h.csv", 2, "another header"),
        (lambda p: (p / "h.jsonl").write_text("not json\n") and p / "h.jsonl", 2, "line 1 is not a JSON object"),
    ],
)
def test_output_is_checked_before_anything_is_measured(cli, tmp_path, monkeypatch, make, code, fragment):
    path = make(tmp_path)
    before = path.read_text() if path.is_file() else None
    monkeypatch.setattr(bench, "run_bench", lambda *a, **k: pytest.fail("measured before checking --output"))
    assert_one_line_error(cli("bench", *TINY, "-o", str(path)), code, fragment)
    assert (path.read_text() if path.is_file() else None) == before


# ---- the roofline ----


def test_real_roofline_times_the_matmul_and_the_models_convolutions(cli):
    doc = _doc(cli, *TINY, "-b", "2")
    (r,) = doc["results"]
    assert doc["gemm_peak"]["n"] >= 5 and "matmul" in doc["gemm_peak"]["kernel"]
    assert r["roofline_gflops_per_s"] >= doc["gemm_peak"]["gflops_per_s"]  # the best of the matmul and convs
    assert r["pct_of_peak"] is None or 0 < r["pct_of_peak"] <= 100
    assert r["above_peak"] == (r["pct_of_peak"] is None)


def test_throughput_above_the_roofline_is_unknown_with_a_note(cli, monkeypatch):
    class Low(FixedRoofline):
        def roofline(self, kernels=()):
            return Roofline(1e-6, "slow (test)", (), "test")  # any real run beats 1 kFLOP/s

    monkeypatch.setattr(measure, "RooflineSampler", Low)
    result = cli("bench", *TINY, "-b", "1")
    assert result.exit_code == 0, result.stderr
    assert "unknown" in result.stdout and "%" not in result.stdout.split("% peak")[1].splitlines()[2]
    assert "measured under contention, so % of peak is unknown" in result.stderr
    doc = _doc(cli, *TINY, "-b", "1")
    assert doc["results"][0]["pct_of_peak"] is None and doc["results"][0]["above_peak"] is True


# ---- several models, training, compile, repeats ----


def test_several_models_interleaved_side_by_side(cli, fixed_roofline, tmp_path, monkeypatch):
    # a hand-written model with its own names (no conv1/layerN/fc) beside two registered ones
    (tmp_path / "handmade.py").write_text(
        "import torch.nn as nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),\n"
        "                         nn.Flatten(), nn.Linear(8, 10))\n"
    )
    order = []
    real = measure.measure
    monkeypatch.setattr(
        measure, "measure", lambda config, *a: order.append((config.model.info.name, config.batch)) or real(config, *a)
    )
    handmade = f"{tmp_path / 'handmade.py'}:build"
    doc = _doc(cli, "resnet20", handmade, "-i", "1x3x32x32", "-b", "1,2", *FAST)
    names = ["resnet20", handmade]
    assert order == [(n, 1) for n in names] + [(n, 2) for n in names]  # each batch size: every model in turn
    assert [(r["model"], r["batch_size"]) for r in doc["results"]] == order
    models = {m["model"]: m for m in doc["models"]}
    # the hand-written model by hand: conv 32*32*8*3*9 + linear 8*10 multiply-accumulates, 2 FLOPs each;
    # parameters 8*3*9 + 8 (conv) + 8*10 + 10 (linear)
    assert models[handmade]["flops_per_image"] == 2 * (32 * 32 * 8 * 3 * 9 + 8 * 10)
    assert models[handmade]["params"] == 8 * 3 * 9 + 8 + 8 * 10 + 10
    # ResNet-20 (He et al. 2016, section 4.2): 0.27M parameters
    assert round(models["resnet20"]["params"] / 1e6, 2) == 0.27
    table = cli("bench", "resnet20", handmade, "-i", "1x3x32x32", "-b", "1", *FAST)
    assert table.exit_code == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "median" in line).split()
    assert header[:3] == ["model", "batch", "median"] and "params" in header and "memory" in header


def test_training_step_flops_memory_and_optimizer(cli, fixed_roofline):
    from torch.utils.flop_counter import FlopCounterMode

    from resnet_cli.sources.target import build_real, resolve_target

    doc = _doc(cli, *TINY, "-b", "2", "--training", "--optimizer", "adamw")
    assert doc["mode"] == "training" and doc["optimizer"] == "adamw" and doc["env"]["flags"]["eval"] is False
    # torch's own counter over a real training step (input without grad, as in training): 2 per MAC
    model = build_real(resolve_target("resnet20", {}, (1, 3, 32, 32))).train()
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 32, 32)).sum().backward()
    (model_doc,) = doc["models"]
    assert model_doc["flops_per_image"] == counter.get_total_flops()
    (r,) = doc["results"]
    params = sum(p.numel() for p in model.parameters())
    assert r["predicted_gradient_bytes"] == params * 4 and r["predicted_optimizer_bytes"] == 2 * params * 4
    assert r["measured_bytes"] > 0 and r["memory_ratio"] == pytest.approx(
        r["measured_bytes"] / r["predicted_bytes"], rel=1e-5
    )
    assert "RSS" in r["memory_source"]


def test_find_max_batch_predicts_then_confirms(cli, fixed_roofline, monkeypatch):
    monkeypatch.setattr(bench_system, "available_memory", lambda device: (32 * 2**20, "available RAM (test)"))
    doc = _doc(cli, *TINY, "--training", "--find-max-batch")
    (search,) = doc["max_batch"]
    (r,) = doc["results"]
    usable = 32 * 2**20 // 2  # the CPU search lets a batch take half of the available memory
    assert search["usable_bytes"] == usable and search["attempts"][0]["batch_size"] == search["predicted"]
    assert r["batch_size"] == search["confirmed"] and r["status"] == "ok"
    # the prediction is the largest N whose predicted step fits: N fits, N + 1 does not (affine in N, from the
    # training step analysed at batches 1 and 2)
    from resnet_cli.benchmark import memory as bench_memory
    from resnet_cli.sources.target import analyze_target, resolve_target

    steps = [analyze_target(resolve_target("resnet20", {}, (n, 3, 32, 32)), training=True)[1] for n in (1, 2)]
    request = BenchRequest(targets=(), device="cpu", batch_sizes=(1,), training=True)

    def total(n):
        return bench_memory.predict(steps[0], steps, n, request).total

    predicted = search["predicted"]
    assert total(predicted) <= usable < total(predicted + 1)
    # then measured: the confirmed batch is the largest attempt that ran and fit; every larger one did not
    attempts = [(a["batch_size"], a["status"]) for a in search["attempts"]]
    assert attempts[0][0] == predicted
    assert search["confirmed"] == max(n for n, status in attempts if status == "ok")
    assert all(status in ("oom", "too big") for n, status in attempts if n > search["confirmed"])


def test_repeats_report_the_spread_between_them(cli, fixed_roofline):
    doc = _doc(cli, *TINY, "-b", "1", "--repeats", "3")
    (r,) = doc["results"]
    medians = r["repeat_medians_ms"]
    assert len(medians) == 3 and r["n"] == len(r["samples_ms"]) >= 30
    assert r["repeat_spread"] == pytest.approx((max(medians) - min(medians)) / statistics.median(medians), abs=1e-6)
    assert r["median_ms"] == pytest.approx(statistics.median(r["samples_ms"]), rel=1e-5)  # samples pooled


def test_compile_modes_and_cuda_graphs(cli, fixed_roofline, monkeypatch):
    calls = []
    monkeypatch.setattr(torch, "compile", lambda model, **kw: calls.append(kw) or model)  # no 30 s inductor run
    doc = _doc(cli, *TINY, "-b", "1,2", "--compile", "reduce-overhead")
    assert calls == [{"mode": "reduce-overhead", "dynamic": False}] * 2  # compiled once per configuration
    assert all(r["compile_s"] is not None and r["compile_s"] > 0 for r in doc["results"])
    assert doc["compile"] == "reduce-overhead" and doc["cuda_graphs"] is False  # no CUDA graphs on the CPU
    # which modes record CUDA graphs is inductor's own table (a private API, pinned here)
    from torch import _inductor

    for mode, graphs in (
        ("default", False),
        ("reduce-overhead", True),
        ("max-autotune", True),
        ("max-autotune-no-cudagraphs", False),
    ):
        assert bench_loop.uses_cuda_graphs(mode, "cuda:0") is graphs
        assert bool(_inductor.list_mode_options(mode).get("triton.cudagraphs")) is graphs


# ---- safety: memory, OOM, Ctrl-C ----


def test_configuration_that_cannot_fit_is_refused_before_allocating(cli):
    # resnet50 keeps ~11 MB of activations alive per 224x224 image: 100,000 images need terabytes
    assert_one_line_error(cli("bench", "resnet50", "-b", "100000", "--device", "cpu"), 1, "cannot fit", "GiB")


def test_batch_sizes_that_cannot_fit_are_skipped_and_the_rest_measured(cli, fixed_roofline, monkeypatch):
    monkeypatch.setattr(bench_system, "available_memory", lambda device: (200 * 2**20, "available RAM (test)"))
    doc = _doc(cli, *TINY, "-b", "1,100000")
    assert {r["batch_size"]: r["status"] for r in doc["results"]} == {1: "ok", 100000: "refused"}


def test_cuda_memory_refusal_uses_free_cuda_memory(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (64 * 2**20, 80 * 2**30))
    assert_one_line_error(cli("bench", "resnet50", "--device", "cuda", "-b", "64"), 1, "free CUDA memory", "cannot fit")


def test_out_of_memory_is_reported_per_configuration_and_the_sweep_goes_on(cli, fixed_roofline, monkeypatch):
    real = measure.make_input

    def failing(batch_size, *args):
        if batch_size == 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(batch_size, *args)

    monkeypatch.setattr(measure, "make_input", failing)
    result = cli("bench", *TINY, "-b", "1,2,3", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert [(r["batch_size"], r["status"]) for r in doc["results"]] == [(1, "ok"), (2, "oom"), (3, "ok")]
    assert "batch 2: out of memory" in result.stderr
    monkeypatch.setattr(
        measure, "make_input", lambda *a: (_ for _ in ()).throw(torch.cuda.OutOfMemoryError("CUDA out of memory"))
    )
    assert_one_line_error(cli("bench", *TINY, "-b", "1,2"), 1, "nothing could be measured", "out of memory")


def test_ctrl_c_prints_what_was_measured_so_far(cli, fixed_roofline, monkeypatch):
    real_input, real_wait = measure.make_input, bench_loop.run_queue_wait_ns
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

    monkeypatch.setattr(measure, "make_input", track)
    monkeypatch.setattr(bench_loop, "run_queue_wait_ns", wait)
    result = cli("bench", *TINY, "-b", "1,2,4", "--format", "json")
    assert result.exit_code == 130
    doc = json.loads(result.stdout)
    assert doc["interrupted"] is True and doc["stopped_by"] == "SIGINT"
    assert [(r["batch_size"], r["status"]) for r in doc["results"]] == [(1, "ok"), (2, "interrupted")]
    assert doc["results"][1]["n"] == 3
    assert "interrupted" in result.stderr


# ---- CUDA paths without a GPU ----


def test_device_cuda_without_cuda_is_one_line_exit_1(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert_one_line_error(cli("bench", "resnet20", "--device", "cuda"), 1, "CUDA is not available", "--device cpu")
    assert_one_line_error(cli("bench", "resnet20", "--device", "cuda:1"), 1, "CUDA is not available")
    # --devices on a machine without GPUs: one line, before anything runs
    assert_one_line_error(cli("bench", "resnet20", "--training", "--devices", "2"), 1, "no CUDA device")


def test_cuda_devices_fewer_than_asked_is_one_line_exit_1(cli, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert_one_line_error(cli("bench", "resnet20", "--device", "cuda:3"), 1, "1 CUDA device")
    assert_one_line_error(
        cli("bench", "resnet20", "--device", "cuda", "--training", "--devices", "2"),
        1,
        "--devices 2: this machine has 1 CUDA device",
    )


def test_auto_device_falls_back_to_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_system.resolve_device("auto") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert bench_system.resolve_device("auto") == "cuda:0"


def test_cuda_timing_loop_records_events_and_memory(monkeypatch):
    """The CUDA branch of the loop, run on the CPU with fake events and allocator statistics: GPU time and
    enqueue time are kept per iteration, each iteration is synchronized, the memory peak is the allocator's
    maximum above what was allocated before the first call."""
    synced, allocator = [], {"now": 300, "peak": 0}

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

    def step():
        allocator["peak"] = max(allocator["peak"], allocator["now"] + 1000)  # each step peaks 1000 B above
        return torch.ones(1)

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: synced.append(1))
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: allocator["now"])
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda device=None: allocator.update(peak=0))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: allocator["peak"])
    request = BenchRequest(targets=(), device="cuda:0", batch_sizes=(1,), warmup_s=0.0, min_time_s=0.0)
    samples = Samples()
    memory = bench_system.PeakMemory("cuda:0")
    bench_loop.timing_loop(step, request, samples, memory=memory)
    figures = samples.figures()
    assert figures["gpu"].n == figures["host"].n == bench_loop.MIN_SAMPLES
    assert figures["gpu"].median_ms == pytest.approx(1.5)
    assert len(synced) == 1 + bench_loop.MIN_WARMUP_ITERS + bench_loop.MIN_SAMPLES  # first call, warm-up, samples
    assert figures["enqueue_median_ms"] is not None
    assert samples.memory_growth == 1000 and memory.source == "torch.cuda.max_memory_allocated"


# ---- the input a model was made for (issue 16, req. 7) ----

STUDENTS = "tests/fixtures/sequential_students.py"


def test_user_code_identified_as_a_variant_is_measured_at_its_input(cli, fixed_roofline):
    # kuangliu's CIFAR ResNet-18 written as nn.Sequential: resnet18_cifar, made for 32×32; its MACs at 32×32
    # by hand (stem, stage 1: four 64→64 convs, stages 2-4 alike: strided conv, three convs, 1×1 projection)
    macs = (
        3 * 64 * 9 * 32 * 32
        + 4 * 64 * 64 * 9 * 32 * 32
        + 3 * (64 * 128 * 9 * 16 * 16 + 3 * 128 * 128 * 9 * 16 * 16 + 64 * 128 * 16 * 16)
        + 512 * 10
    )
    result = cli("bench", f"{STUDENTS}:cifar_resnet18", *FAST, "-b", "1", "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    (model,) = doc["models"]
    assert model["sample_shape"] == [3, 32, 32] and model["flops_per_image"] == 2 * macs
    assert model["identified_as"] == {"name": "resnet18_cifar", "flags": {}, "label": "resnet18_cifar"}
    assert doc["results"][0]["predicted_input_bytes"] == 3 * 32 * 32 * 4  # one float32 image of 1×3×32×32
    assert (
        "identified as resnet18_cifar, so analysed at the input it was made for, 1×3×32×32 (--input NxCxHxW changes it)"
    ) in result.stderr
    given = cli("bench", f"{STUDENTS}:cifar_resnet18", *FAST, "--input", "1x3x64x64", "-f", "json")
    assert json.loads(given.stdout)["models"][0]["sample_shape"] == [3, 64, 64]
    assert "identified as" not in given.stderr


def test_an_isolated_child_resolves_user_code_at_the_input_chosen(cli, monkeypatch):
    # --isolate: the fresh process resolves MODEL again from its text, so the input chosen travels in its ref
    from resnet_cli.benchmark import isolate

    asked = []
    monkeypatch.setattr(isolate, "_run_child", lambda request: asked.append(request) or {"failure": "not run"})
    result = cli("bench", f"{STUDENTS}:cifar_resnet18", *FAST, "-b", "1", "--isolate")
    assert result.exit_code == 1 and "not run" in result.stderr
    assert [r.input_shape for r in asked[0].refs] == [(1, 3, 32, 32)]


def test_an_unidentified_model_is_benched_at_the_default_input_and_told_so(cli, fixed_roofline):
    result = cli("bench", "tests/fixtures/bad_models.py:Tiny", *FAST, "-b", "1", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["models"][0]["sample_shape"] == [3, 224, 224]
    assert "analysed at the default input 1×3×224×224; give --input NxCxHxW" in result.stderr


# ---- bad input: one line, exit 2 ----


@pytest.mark.parametrize(
    "args, fragment",
    [
        (("-b", "0"), "--batch-size '0'"),
        (("-b", "1,x"), "'x' is not an integer"),
        (("--device", "tpu"), "--device 'tpu' is not accepted"),
        (("--device", "cuda:x"), "cuda:N"),
        (("--dtype", "fp8"), "--dtype 'fp8' is not accepted"),
        (("--compile", "fast"), "--compile 'fast' is not accepted"),
        (("--optimizer", "adamw"), "add --training"),
        (("--training", "--optimizer", "lbfgs"), "--optimizer 'lbfgs'"),
        (("--threads", "0"), "--threads 0"),
        (("--min-time", "0"), "--min-time"),
        (("--warmup", "-1"), "--warmup"),
        (("--repeats", "0"), "--repeats 0"),
        (("--devices", "2"), "add --training"),
        (("--find-max-batch", "-b", "2"), "drop --batch-size"),
        (("--output", "results.txt"), ".jsonl"),
        (("--format", "yaml"), "--format 'yaml'"),
        (("--input", "1x4x224x224"), "channels"),
        (("resnet18",), "given twice"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, args, fragment):
    assert_one_line_error(cli("bench", "resnet18", *args), 2, fragment)


def test_installed_entry_point():
    entry = str(Path(sys.executable).with_name("resnet-cli"))
    bad = subprocess.run([entry, "bench", "--device", "tpu"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1
    # (a whole run through the entry point, with SIGTERM and the import checks: test_bench_processes.py)


def test_plot_draws_every_model_against_batch_size(cli, fixed_roofline, tmp_path):
    path = tmp_path / "sweep.png"
    doc = _doc(cli, "resnet20", "resnet32", "-i", "1x3x32x32", "-b", "1,2", *FAST, "--plot", str(path), wrote=path)
    assert len(doc["results"]) == 4
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
    assert width > 3 * height / 2  # three panels side by side: latency, throughput, latency vs FLOPs
    refused = cli("bench", "resnet20", "-i", "1x3x32x32", *FAST, "--plot", str(tmp_path / "sweep.txt"))
    assert_one_line_error(refused, 2, "--plot", "must end in .svg, .png or .pdf")


def test_weights_are_loaded_into_the_benchmarked_model(cli, fixed_roofline, tmp_path):
    from resnet_cli import api

    good = tmp_path / "resnet20.pth"
    torch.save(api.build("resnet20").state_dict(), good)
    assert _doc(cli, "resnet20", "--weights", str(good), "-i", "1x3x32x32", "-b", "1", *FAST)["results"]
    wrong = tmp_path / "resnet18.pth"
    torch.save(api.build("resnet18").state_dict(), wrong)
    result = cli("bench", "resnet20", "--weights", str(wrong), "-i", "1x3x32x32", *FAST)
    assert result.exit_code == 1 and result.stdout == ""
    assert "does not fit the model" in result.stderr.strip().splitlines()[-1]
