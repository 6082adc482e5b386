"""bench's parts on their own: statistics, derived figures, the roofline rule, memory prediction, the
max-batch search, the --output check, distributed and isolated results. Expected figures are written out by
hand or computed with the standard library / torch / torchvision, never with the code under test."""

import json
import random
import statistics

import pytest
import torch

from resnet_cli.base.errors import RuntimeFailure, UsageError
from resnet_cli.benchmark import memory as bench_memory
from resnet_cli.benchmark.isolate import merge
from resnet_cli.benchmark.peak import KernelRate, Roofline, conv_shapes
from resnet_cli.benchmark.records import BenchRequest, ConfigResult, DistributedResult
from resnet_cli.benchmark.stats import Stats, repeat_spread, sample_stats
from resnet_cli.render import history as bench_output
from resnet_cli.sources.target import analyze_target, resolve_target

# ---- statistics ----


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


def test_spread_between_repeats_by_hand():
    # medians 10, 11, 12.5 ms: (12.5 - 10) / 11 = 0.22727…; one repeat has no spread
    assert repeat_spread([10.0, 12.5, 11.0]) == pytest.approx(2.5 / 11)
    assert repeat_spread([10.0]) is None


def _stats(median, n=10):
    return Stats(
        n=n,
        median_ms=median,
        mean_ms=median,
        min_ms=median - 1,
        max_ms=median + 1,
        p10_ms=median - 0.5,
        p25_ms=median - 0.2,
        p75_ms=median + 0.2,
        p90_ms=median + 0.5,
    )


def _roofline(gflops):
    rate = KernelRate("test kernel", 1, gflops, gflops, 5)
    return Roofline(gflops, "test kernel", (rate,), "test")


def test_derived_figures_and_host_bound_flag():
    # batch 8 at a 40 ms median: 8 / 0.040 = 200 img/s; 8.178 GFLOP per image -> 65.424 GFLOP / 0.040 s
    # = 1635.6 GFLOP/s; against a 2000 GFLOP/s roofline that is 81.78 %
    r = ConfigResult(
        "resnet50",
        8,
        "ok",
        host=_stats(40.0),
        gpu=_stats(38.0),
        enqueue_median_ms=5.0,
        flops_per_batch=8 * 8_178_000_000,
        roofline=_roofline(2000.0),
    )
    assert r.throughput == pytest.approx(200.0)
    assert r.gflops_per_s == pytest.approx(1635.6)
    assert r.pct_of_peak == pytest.approx(81.78) and r.above_peak is False
    assert r.host_bound is False  # the launches (5 ms) ran far ahead of the GPU (38 ms)
    bound = ConfigResult("m", 1, "ok", host=_stats(40.0), gpu=_stats(38.0), enqueue_median_ms=36.0)
    assert bound.host_bound is True  # the GPU waited for Python to launch its kernels
    assert ConfigResult("m", 1, "ok", host=_stats(40.0)).host_bound is None  # CPU: no GPU time


def test_a_rate_above_the_roofline_is_unknown_never_above_100_percent():
    # 1635.6 GFLOP/s against a 1000 GFLOP/s roofline would be 163.56 %: the roofline is no bound there
    r = ConfigResult("m", 8, "ok", host=_stats(40.0), flops_per_batch=8 * 8_178_000_000, roofline=_roofline(1000.0))
    assert r.pct_of_peak is None and r.above_peak is True
    exact = ConfigResult("m", 1, "ok", host=_stats(1000.0), flops_per_batch=10**12, roofline=_roofline(1000.0))
    assert exact.pct_of_peak == pytest.approx(100.0)  # 1e12 FLOP in 1 s = 1000 GFLOP/s: exactly the roofline


def test_the_roofline_times_the_models_costliest_convolutions():
    # ResNet-50 at 224: the 3x3 convs of stages 1-3 each do 56*56*64*64*9 = 28*28*128*128*9 = 14*14*256*256*9
    # = 115,605,504 multiply-accumulates per image, the most of any conv shape (and they recur 3, 4, 6 times)
    _, analysis = analyze_target(resolve_target("resnet50", {}, (1, 3, 224, 224)))
    shapes = conv_shapes(analysis)
    assert {macs for _key, macs in shapes} == {56 * 56 * 64 * 64 * 9}
    assert {key[0] for key, _ in shapes} == {(64, 56, 56), (128, 28, 28), (256, 14, 14)}
    assert all(key[1][2:] == (3, 3) and key[2] == (1, 1) for key, _ in shapes)


# ---- FLOPs and memory ----


def test_counts_are_linear_forward_and_affine_in_training():
    # bench counts inference once at batch 1 and scales; a training step at batches 1 and 2 and extends the
    # line (batch norm saves per-channel statistics whatever N). Check both against batch 3 counted directly.
    from resnet_cli.report.rows import totals

    def at(batch, training=False):
        return analyze_target(resolve_target("resnet18", {}, (batch, 3, 64, 64)), training=training)[1]

    one, three = at(1), at(3)
    assert totals(three).macs == 3 * totals(one).macs
    assert three.peak_activation_bytes(4) == 3 * one.peak_activation_bytes(4)
    steps = [at(n, True) for n in (1, 2, 3)]
    assert totals(steps[2]).macs + totals(steps[2]).backward_macs == 3 * (
        totals(steps[0]).macs + totals(steps[0]).backward_macs
    )
    saved = [s.saved_activation_bytes(4) for s in steps]
    assert saved[2] == saved[0] + 2 * (saved[1] - saved[0]) and saved[2] != 3 * saved[0]


def test_predicted_memory_by_hand_against_torchvision():
    import torchvision

    reference = torchvision.models.resnet18()
    params = sum(p.numel() for p in reference.parameters())  # 11,689,512
    stats = sum(
        m.running_mean.numel() + m.running_var.numel()
        for m in reference.modules()
        if isinstance(m, torch.nn.BatchNorm2d)
    )
    target = resolve_target("resnet18", {}, (1, 3, 64, 64))
    _, forward = analyze_target(target)
    steps = [analyze_target(resolve_target("resnet18", {}, (n, 3, 64, 64)), training=True)[1] for n in (1, 2)]
    sgd = BenchRequest(targets=(), device="cpu", batch_sizes=(4,), training=True, optimizer="sgd")
    p = bench_memory.predict(forward, steps, 4, sgd)
    assert p.weights == (params + stats) * 4 and p.gradients == params * 4 and p.optimizer_state == params * 4
    adamw = bench_memory.predict(
        forward, steps, 4, BenchRequest(targets=(), device="cpu", batch_sizes=(4,), training=True, optimizer="adamw")
    )
    assert adamw.optimizer_state == 2 * params * 4  # exp_avg and exp_avg_sq
    half = bench_memory.predict(
        forward, None, 4, BenchRequest(targets=(), device="cpu", batch_sizes=(4,), dtype="bfloat16")
    )
    assert half.weights == (params + stats) * 4 + params * 2  # autocast keeps bfloat16 copies of the weights
    assert half.input == 4 * 3 * 64 * 64 * 4 and half.gradients == half.optimizer_state == 0


def test_saved_activations_match_what_autograd_keeps_in_a_real_step():
    # count, with torch's own saved-tensor hooks, the distinct storages other than parameters and buffers a real
    # training
    # forward of resnet18 at batch 2 keeps for the backward
    from resnet_cli.sources.target import build_real

    target = resolve_target("resnet18", {}, (2, 3, 64, 64))
    model = build_real(target).train()
    # parameters and buffers (BN running statistics) are the weights' share, not activations
    parameters = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    kept = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(2, 3, 64, 64)).sum()
    steps = [analyze_target(resolve_target("resnet18", {}, (n, 3, 64, 64)), training=True)[1] for n in (1, 2)]
    request = BenchRequest(targets=(), device="cpu", batch_sizes=(2,), training=True)
    assert bench_memory.predict(steps[0], steps, 2, request).activations == sum(kept.values())


def test_max_batch_search_predicts_then_confirms_and_never_crashes():
    # total(N) = 100 + 10 N bytes; 1,000 bytes available on CUDA, 90 % usable = 900: predicted N = 80
    def total(n):
        return 100 + 10 * n

    # the real step runs out of memory above 60: 80 fails, 80 * 3 // 4 = 60 runs; then bisection between
    # 60 and 80 while they are more than 5 % of 60 = 3 apart: 70 fails, 65 fails, 62 fails (80 - ... 62 - 60 = 2)
    tried = []

    def step(n):
        tried.append(n)
        return ("ok", total(n)) if n <= 60 else ("oom", None)

    found = bench_memory.search_max_batch("m", total, 1000, "test", "cuda", step)
    assert (found.usable_bytes, found.predicted, found.confirmed) == (900, 80, 60)
    # the documented rule, by hand: try the prediction, then 3/4 of it, then bisect between the largest batch
    # that ran and the smallest that failed while they are more than 5 % apart
    usable, limit = 1000 * 9 // 10, 60
    predicted = (usable - 100) // 10
    expected, ran, failed = [predicted, predicted * 3 // 4], predicted * 3 // 4, predicted
    while failed - ran > 0.05 * ran:
        middle = (ran + failed) // 2
        expected.append(middle)
        ran, failed = (middle, failed) if middle <= limit else (ran, middle)
    assert tried == expected
    assert found.attempts[:2] == ((80, "oom", None), (60, "ok", 700))
    # a step that measures half the prediction lets the search try the batch that measurement implies:
    # 0.5 × (100 + 10 N) ≤ 900 -> N ≤ 170
    half = bench_memory.search_max_batch("m", total, 1000, "test", "cuda", lambda n: ("ok", total(n) // 2))
    assert [a[0] for a in half.attempts] == [80, 170] and half.confirmed == 170
    # a failure that is not about memory stops the search; unknown free memory searches nothing
    assert bench_memory.search_max_batch("m", total, 1000, "t", "cuda", lambda n: ("error", None)).confirmed is None
    assert bench_memory.search_max_batch("m", total, None, "t", "cpu", step).predicted is None


# ---- --output, checked before anything is measured ----


def test_output_checks(tmp_path):
    header = ["timestamp", "model", "batch_size"]
    assert bench_output.check_output(str(tmp_path / "new.csv"), header).kind == "csv"
    assert not (tmp_path / "new.csv").exists()  # proving the file can be created leaves nothing behind
    directory = tmp_path / "runs.jsonl"
    directory.mkdir()
    foreign = tmp_path / "other.csv"
    foreign.write_text("a,b,c\n1,2,3\n")
    pretty = tmp_path / "doc.json"
    pretty.write_text(json.dumps({"results": []}, indent=2))
    good = tmp_path / "good.jsonl"
    good.write_text('{"a": 1}\n\n{"b": 2}\n')
    cases = [
        (str(directory), "is a directory"),
        ("/proc/x.jsonl", "cannot be created"),
        (str(foreign), "another header"),
        (str(pretty), "line 1 is not a JSON object"),
        (str(tmp_path / "none" / "x.csv"), "does not exist"),
        (str(tmp_path / "x.txt"), ".jsonl"),
    ]
    for path, fragment in cases:
        with pytest.raises(UsageError, match=fragment):
            bench_output.check_output(path, header)
    assert bench_output.check_output(str(good), header).kind == "jsonl"


def test_output_the_system_refuses_is_a_runtime_failure(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(bench_output.os, "open", refuse)
    with pytest.raises(RuntimeFailure, match="cannot be written: Permission denied"):
        bench_output.check_output(str(tmp_path / "x.jsonl"), [])


# ---- distributed and isolated results ----


def test_distributed_figures_by_hand():
    # 2 ranks at batch 32 per device, step medians 100 and 125 ms; one device alone: 80 ms.
    # per device 320 and 256 img/s; aggregate 2 * 32 / 0.125 = 512 img/s (the slowest rank sets the pace);
    # one device 32 / 0.080 = 400 img/s; efficiency 512 / (2 * 400) = 0.64
    d = DistributedResult(
        world_size=2,
        backend="gloo",
        batch_per_device=32,
        rank_medians_ms=(100.0, 125.0),
        rank_samples=(10, 10),
        single_median_ms=80.0,
    )
    assert d.per_device_throughput == pytest.approx((320.0, 256.0))
    assert d.aggregate_throughput == pytest.approx(512.0)
    assert d.single_throughput == pytest.approx(400.0) and d.scaling_efficiency == pytest.approx(0.64)


def test_isolated_repeats_merge_their_samples():
    a = ConfigResult(
        "m",
        1,
        "ok",
        host=sample_stats([1.0, 2.0, 3.0]),
        samples_ms=(1.0, 2.0, 3.0),
        repeat_medians_ms=(2.0,),
        measure_s=1.0,
        roofline=_roofline(50.0),
        measured_bytes=100,
    )
    b = ConfigResult(
        "m",
        1,
        "ok",
        host=sample_stats([4.0, 5.0]),
        samples_ms=(4.0, 5.0),
        repeat_medians_ms=(4.5,),
        measure_s=1.0,
        roofline=_roofline(60.0),
        measured_bytes=90,
    )
    merged = merge([a, b])
    assert merged.samples_ms == (1.0, 2.0, 3.0, 4.0, 5.0) and merged.host.median_ms == statistics.median(
        [1, 2, 3, 4, 5]
    )
    assert merged.repeat_medians_ms == (2.0, 4.5) and merged.roofline.gflops_per_s == 60.0
    assert merged.measured_bytes == 100 and merged.measure_s == 2.0


def test_roofline_kernels_on_cuda_are_timed_with_events(monkeypatch):
    """The CUDA branch of a roofline kernel, run on the CPU with fake events: one event pair per call, the
    rate is FLOPs / event time, and the roofline is the best kernel's best sample."""
    from resnet_cli.benchmark import peak as bench_peak

    class FakeEvent:
        def __init__(self, enable_timing=False):
            self.at = 0.0

        def record(self):
            self.at = FakeEvent.clock = getattr(FakeEvent, "clock", 0.0) + 1.5  # 1.5 ms between records

        def synchronize(self):
            pass

        def elapsed_time(self, other):
            return other.at - self.at

    monkeypatch.setattr(torch.cuda, "Event", FakeEvent)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *a: None)
    # 3e9 FLOPs in 1.5 ms = 2,000 GFLOP/s; 1.5e9 FLOPs in 1.5 ms = 1,000 GFLOP/s
    fast = bench_peak.KernelBench("fast", 3 * 10**9, lambda: lambda: None, "cuda:0")
    slow = bench_peak.KernelBench("slow", 15 * 10**8, lambda: lambda: None, "cuda:0")
    for kernel in (fast, slow):
        kernel.sample(3, 0.0)
    assert fast.rate().n == 3 and fast.rate().gflops_per_s == pytest.approx(2000.0)
    sampler = bench_peak.RooflineSampler("cuda:0", "bfloat16", 1)
    sampler.gemm = slow
    roofline = sampler.roofline([fast])
    assert roofline.gflops_per_s == pytest.approx(2000.0) and roofline.kernel == "fast"


def test_the_cli_is_api_bench_and_to_dict_is_its_json(cli, monkeypatch):
    # issue 17 req 4: `bench` calls resnet_cli.bench; the CLI's --format json is the result's to_dict() for the same
    # run (the run is measured once, then handed to both, since no two runs measure the same figures)
    import resnet_cli
    from resnet_cli.benchmark import bench as core

    measured = resnet_cli.bench("resnet18", input="1x3x32x32", warmup=0, min_time=0.05, threads=1)
    asked = []

    def replay(request, **kwargs):
        asked.append(request)
        return measured.report

    monkeypatch.setattr(core, "run_bench", replay)
    result = cli(
        "bench",
        "resnet18",
        "--input",
        "1x3x32x32",
        "--warmup",
        "0",
        "--min-time",
        "0.05",
        "--threads",
        "1",
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == measured.to_dict()
    # what the command asked for is what the API asked for
    assert (asked[0].batch_sizes, asked[0].threads, asked[0].min_time_s, asked[0].warmup_s) == (
        measured.report.request.batch_sizes,
        1,
        0.05,
        0.0,
    )
    assert measured.to_dict()["results"][0]["model"] == "resnet18" and resnet_cli.bench.__module__ == "resnet_cli.api"


def test_the_roofline_is_sampled_again_only_where_it_would_change_a_verdict():
    # issue 18 req 8: each kernel is timed once per run; after a configuration only when the model's rate is above
    # its roofline (the % unknown), since then one more sample may lift the roofline above it
    from types import SimpleNamespace

    from resnet_cli.benchmark.measure import _above
    from resnet_cli.benchmark.peak import KernelBench, RooflineSampler

    sampler = RooflineSampler("cpu", "float32", 1)
    timed = KernelBench("conv a", 10**9, None, "cpu")
    timed.rates = [100.0]  # GFLOP/s, best sample
    fresh = KernelBench("conv b", 10**9, None, "cpu")
    assert sampler.unsampled([timed, fresh]) == [fresh]
    # 4 GFLOP per image at batch 2 in 100 ms: 80 GFLOP/s, below the 100 of the roofline: nothing to re-sample
    config = SimpleNamespace(
        model=SimpleNamespace(info=SimpleNamespace(flops_per_image=4 * 10**9)), batch=2, kernels=[timed]
    )
    assert not _above(config, SimpleNamespace(host_ms=[100.0, 99.0, 101.0]), sampler)
    # in 50 ms: 160 GFLOP/s, above it: the % would be unknown, so the kernels are sampled again
    assert _above(config, SimpleNamespace(host_ms=[50.0]), sampler)
