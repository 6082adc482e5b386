"""``profile``: the bytes of operators against hand calculations, the roofline arithmetic on fabricated measurements,
the attribution of measured time to the module that spent it, the reconciliation bound, and the command's edges.

No test asserts a duration: measured times are only compared with each other (shares, sums within one run).
"""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from resnet_cli.api import target_for
from resnet_cli.report.profile import (
    NOT_ATTRIBUTED,
    Measured,
    Peaks,
    model_profile,
    op_bytes,
    op_kind,
    reconcile,
    roofline_seconds,
    row_costs,
)
from resnet_cli.sources.target import analyze
from tests.conftest import assert_one_line_error


@pytest.fixture(scope="module")
def resnet18_ops():
    analysis = analyze(target_for("resnet18", "1x3x224x224")).analysis
    return analysis


def _op(analysis, module, category):
    found = [op for op in analysis.ops if op.module == module and op.category == category]
    assert len(found) == 1, (module, category, found)
    return found[0]


# ---- bytes: inputs and parameters read once, the output written once, at the dtype's size ----


def test_bytes_of_the_stem_conv(resnet18_ops):
    # input 1·3·224·224 = 150,528 elements; weight 64·3·7·7 = 9,408; output 1·64·112·112 = 802,816
    # float32: 602,112 + 37,632 + 3,211,264 = 3,851,008 bytes
    conv = _op(resnet18_ops, "conv1", "convolution")
    assert op_bytes(conv, 4) == 602_112 + 37_632 + 3_211_264 == 3_851_008
    assert op_bytes(conv, 2) == 3_851_008 // 2  # bfloat16 / float16: half


def test_bytes_of_a_batch_norm(resnet18_ops):
    # x 1·64·112·112 = 802,816 read; weight, bias, running mean, running var 4·64 = 256 read; y 802,816 written
    bn = _op(resnet18_ops, "bn1", "batch_norm")
    assert op_bytes(bn, 4) == (802_816 + 256 + 802_816) * 4 == 6_423_552


def test_bytes_of_a_residual_add(resnet18_ops):
    # layer1.0's out += identity: two 1·64·56·56 tensors read (200,704 each), one written
    add = _op(resnet18_ops, "layer1.0", "residual_add")
    assert op_bytes(add, 4) == 3 * 200_704 * 4 == 2_408_448


def test_bytes_of_the_max_pool(resnet18_ops):
    # 1·64·112·112 read (802,816), 1·64·56·56 written (200,704); the argmax indices are not compulsory
    pool = _op(resnet18_ops, "maxpool", "pooling")
    assert op_bytes(pool, 4) == (802_816 + 200_704) * 4 == 4_014_080


def test_bytes_of_the_fc(resnet18_ops):
    # addmm(bias, x, weightᵀ): x 1·512, weight 1000·512 = 512,000, bias 1,000 read; 1·1000 written
    fc = _op(resnet18_ops, "fc", "linear")
    assert op_bytes(fc, 4) == (512 + 512_000 + 1_000 + 1_000) * 4 == 2_058_048
    # the transpose is a view: no traffic
    views = [op for op in resnet18_ops.ops if op.module == "fc" and op.category != "linear"]
    assert views and all(op_bytes(op, 4) == 0 for op in views)


def test_the_stem_row_holds_its_operators(resnet18_ops):
    # stem = conv1 + bn1 + relu (in place: 802,816 read and written) + maxpool
    stem = row_costs(resnet18_ops, "stage", 4)["stem"]
    assert stem.bytes == 3_851_008 + 6_423_552 + 2 * 802_816 * 4 + 4_014_080


# ---- the roofline's arithmetic ----


def test_roofline_time_and_bound():
    peaks = Peaks(flops_per_s=100e9, bytes_per_s=10e9, flops_kernel="mm", bytes_kernel="triad")
    assert peaks.ridge == 10.0
    assert roofline_seconds(200_000_000, 1_000_000, peaks) == (0.002, "compute")  # 2 ms of FLOPs > 0.1 ms of bytes
    assert roofline_seconds(1_000_000, 40_000_000, peaks) == (0.004, "memory")  # 4 ms of bytes > 0.01 ms of FLOPs


def _fabricated(analysis, seconds_per_entry: dict, iterations: int = 3) -> Measured:
    samples = tuple(dict(seconds_per_entry) for _ in range(iterations))
    total = sum(seconds_per_entry.values())
    return Measured(samples, (total * 1.25,) * iterations, (total * 1.1,) * iterations, "fabricated")


def test_row_arithmetic_on_a_fabricated_measurement(resnet18_ops):
    peaks = Peaks(flops_per_s=1e11, bytes_per_s=1e10, flops_kernel="mm", bytes_kernel="triad")
    # 10 ms in conv1, 5 ms in bn1, 1 ms in the fc, per iteration
    measured = _fabricated(
        resnet18_ops, {("conv1", "", "conv"): 0.010, ("bn1", "", "bn"): 0.005, ("fc", "", "linear"): 0.001}
    )
    profile = model_profile("resnet18", "", resnet18_ops, measured, peaks, "layer", 4)
    rows = {r.name: r for r in profile.rows}
    conv = rows["conv1"]
    flops = _op(resnet18_ops, "conv1", "convolution").flops  # 2·64·112·112·3·7·7 = 236,027,904
    assert flops == 2 * 64 * 112 * 112 * 3 * 7 * 7
    assert conv.flops == flops and conv.bytes == 3_851_008
    assert conv.intensity == pytest.approx(236_027_904 / 3_851_008)
    assert conv.roofline_s == pytest.approx(236_027_904 / 1e11)  # compute: 2.36 ms > 0.385 ms of bytes
    assert conv.bound == "compute"
    assert conv.efficiency == pytest.approx(236_027_904 / 1e11 / 0.010)
    assert conv.achieved_flops_per_s == pytest.approx(236_027_904 / 0.010)
    assert conv.share == pytest.approx(0.010 / 0.016)
    bn = rows["bn1"]
    assert bn.bound == "memory" and bn.roofline_s == pytest.approx(6_423_552 / 1e10)
    assert rows["relu"].median_s == 0.0  # measured nothing there: 0, not missing
    categories = {c.category: c for c in profile.categories}
    assert categories["conv"].time_pct == pytest.approx(100 * 10 / 16)
    assert categories["batch norm"].time_pct == pytest.approx(100 * 5 / 16)
    assert categories["matmul"].time_pct == pytest.approx(100 * 1 / 16)


def test_reconciliation_on_a_fabricated_measurement():
    measured = Measured(
        ({("a", "", "conv"): 0.004, ("b", "", "bn"): 0.002}, {("a", "", "conv"): 0.006}),
        (0.010, 0.008),
        (0.007, 0.009, 0.011),
        "fabricated",
    )
    r = reconcile(measured)
    assert r.rows_s == pytest.approx(0.006)  # median of 6 ms and 6 ms
    assert r.profiled_s == pytest.approx(0.009)
    assert r.free_s == pytest.approx(0.009)
    assert r.outside_s == pytest.approx(0.003)  # median of 10-6 and 8-6
    assert r.overhead_s == pytest.approx(0.0)


def test_time_outside_every_module_is_its_own_uncertain_row(resnet18_ops):
    peaks = Peaks(1e11, 1e10, "mm", "triad")
    measured = _fabricated(resnet18_ops, {("conv1", "", "conv"): 0.010, (None, "", "other"): 0.002})
    rows = {r.name: r for r in model_profile("r", "", resnet18_ops, measured, peaks, "stage", 4).rows}
    assert rows[NOT_ATTRIBUTED].median_s == pytest.approx(0.002) and rows[NOT_ATTRIBUTED].uncertain
    assert not rows["stem"].uncertain


# ---- measuring: attribution and reconciliation on a real run ----


class _Tiny(nn.Module):
    """One module does a 256×1024 by 1024×1024 matmul (268 M multiply-adds); the others touch 16 elements each."""

    def __init__(self) -> None:
        super().__init__()
        self.small = nn.ReLU()
        self.big = nn.Linear(1024, 1024, bias=False)
        self.tail = nn.Tanh()

    def forward(self, x):
        return self.big(x)[:4, :4] + self.tail(self.small(x[:4, :4]))


@pytest.fixture(scope="module")
def tiny_run():
    from resnet_cli.profiling.measure import Settings, measure_model

    settings = Settings("cpu", "float32", iterations=3, warmup=1, threads=torch.get_num_threads())
    return measure_model(_Tiny(), (256, 1024), settings)


def test_the_module_that_does_the_matmul_owns_most_of_the_time(tiny_run):
    assert len(tiny_run.iterations) == 3 and not tiny_run.interrupted
    by_module: dict = {}
    for iteration in tiny_run.iterations:  # summed over the iterations: one preempted small op cannot tip it
        for (module, _anchor, _kind), seconds in iteration.items():
            by_module[module] = by_module.get(module, 0.0) + seconds
        assert ("big", "", "linear") in iteration  # the matmul, by its kind
    assert max(by_module, key=by_module.get) == "big"
    assert by_module["big"] > 0.5 * sum(by_module.values())


def test_the_rows_never_exceed_the_profiled_forward(tiny_run):
    # operator self times are disjoint intervals of one thread: their sum is at most the iteration's wall time
    for iteration, wall in zip(tiny_run.iterations, tiny_run.profiled_s, strict=True):
        assert 0 < sum(iteration.values()) <= wall
    r = reconcile(tiny_run)
    assert r.outside_s >= 0 and r.rows_s <= r.profiled_s
    assert r.iterations == 3 and r.free_iterations == 3


def test_a_training_step_attributes_the_backward_to_its_module():
    from resnet_cli.profiling.measure import Settings, measure_model

    model = _Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    settings = Settings("cpu", "float32", training=True, iterations=2, warmup=1, threads=torch.get_num_threads())
    run = measure_model(model, (256, 1024), settings, owned=False)
    kinds = {kind for iteration in run.iterations for (module, _a, kind) in iteration if module == "big"}
    assert "linear" in kinds  # the forward matmul
    assert kinds - {"linear"}, kinds  # and its backward (mm, by the autograd node's sequence number)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # the caller's model untouched
    assert all(p.grad is None for p in model.parameters())


# ---- the command and the API ----


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--depth", "module"), "--depth"),
        (("--batch-size", "0"), "--batch-size"),
        (("--iterations", "0"), "--iterations"),
        (("--dtype", "int8"), "--dtype"),
        (("--device", "tpu"), "--device"),
        (("--plot", "roofline.gif"), "--plot"),
        (("--output", "history.txt"), "--output"),
        (("--input", "1x3x224"), "--input"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, fragment):
    assert_one_line_error(cli("profile", "resnet18", *args), 2, fragment)


def test_an_unknown_model_is_one_line_and_exit_2(cli):
    assert_one_line_error(cli("profile", "resnet19", "--device", "cpu"), 2, "resnet19")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this checks the answer of a machine without CUDA")
def test_cuda_without_cuda_is_one_line_and_exit_1(cli):
    assert_one_line_error(cli("profile", "resnet18", "--device", "cuda"), 1, "--device cuda")


def test_the_command_end_to_end(cli, tmp_path):
    history = tmp_path / "profile.jsonl"
    picture = tmp_path / "roofline.png"
    result = cli(
        "profile",
        "resnet18",
        "resnet34",
        "--input",
        "1x3x32x32",
        "--device",
        "cpu",
        "-n",
        "2",
        "--warmup",
        "0",
        "--format",
        "json",
        "--output",
        str(history),
        "--plot",
        str(picture),
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["command"] == "profile" and [m["model"] for m in doc["models"]] == ["resnet18", "resnet34"]
    first = doc["models"][0]
    assert [r["name"] for r in first["rows"]] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert {"conv", "batch norm", "activation", "add", "pooling", "matmul"} <= {
        c["category"] for c in first["categories"]
    }
    assert sum(r["flops"] for r in first["rows"]) == first["flops"]
    assert doc["peaks"]["flops_per_s"] > 0 and doc["peaks"]["bytes_per_s"] > 0
    assert doc["differences"][0]["first"] == "resnet18" and doc["differences"][0]["second"] == "resnet34"
    lines = history.read_text().splitlines()
    assert len(lines) == 12 and json.loads(lines[0])["model"] == "resnet18"
    assert picture.stat().st_size > 10_000


def test_the_api_at_op_depth():
    import resnet_cli

    result = resnet_cli.profile("resnet18", input="1x3x32x32", device="cpu", depth="op", iterations=1, warmup=0)
    names = [r.name for r in result.report.models[0].rows]
    assert "conv1 · conv" in names and "layer1.0 (own ops) · add" in names and "fc · linear" in names
    assert result.to_dict()["depth"] == "op"


class _StopsAtCall(nn.Module):
    """Raises KeyboardInterrupt (as Ctrl-C would) at its ``stop_at``-th call."""

    def __init__(self, stop_at: int) -> None:
        super().__init__()
        self.layer = nn.Linear(64, 64)
        self.calls, self.stop_at = 0, stop_at

    def forward(self, x):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return self.layer(x)


def test_ctrl_c_keeps_the_iterations_that_completed():
    from resnet_cli.profiling.measure import Settings, measure_model

    # call 1: warm-up; calls 2-3: without the profiler; calls 4-5 profiled; call 6 is cut short
    settings = Settings("cpu", "float32", iterations=4, warmup=1, threads=1)
    run = measure_model(_StopsAtCall(6), (8, 64), settings)
    assert run.interrupted and run.stopped_by == "SIGINT"
    assert len(run.iterations) == 2 and len(run.profiled_s) == 2 and len(run.free_s) == 2
    assert all(("layer", "", "linear") in iteration for iteration in run.iterations)


# ---- the roofline pictures ----


def _fabricated_report(resnet18_ops, depth: str = "layer"):
    from resnet_cli.report.profile import ProfileReport

    peaks = Peaks(1e11, 1e10, "float32 matmul 2048³", "triad")
    layout_rows = row_costs(resnet18_ops, depth, 4)
    # 1 ms per row, and two rows with the same costs (layer1.0.conv1 and .conv2): the same point
    entries = {(op.module, op.anchor, op_kind(op)): 1e-3 for op in resnet18_ops.ops if op.flops}
    assert layout_rows
    one = model_profile("resnet18", "", resnet18_ops, _fabricated(resnet18_ops, entries), peaks, depth, 4)
    return ProfileReport((one,), peaks, "cpu", "test CPU", "float32", False, None, False, depth, 1, 2)


def test_the_text_roofline_shows_every_row_once(resnet18_ops):
    from resnet_cli.render.roofline import MARKS, terminal_roofline

    report = _fabricated_report(resnet18_ops, "stage")
    text = terminal_roofline(report, 100).plain
    chart, legend = text.split("FLOP/byte\n", 1)
    grid = "".join(line.split("│", 1)[1] for line in chart.splitlines() if "│" in line)  # without the axis labels
    timed = [r for r in report.models[0].rows if r.median_s]
    for number in range(len(timed)):
        assert grid.count(MARKS[number]) == 1, (MARKS[number], chart)
    assert len(legend.splitlines()) == len(timed)


def test_the_roofline_figure_places_labels_without_overlap(resnet18_ops):
    from resnet_cli.render.roofline import roofline_figure

    figure = roofline_figure(_fabricated_report(resnet18_ops, "layer"))
    renderer = figure.canvas.get_renderer()
    axis = figure.axes[0]
    boxes = [
        t.get_window_extent(renderer)
        for t in axis.texts
        if t.get_text() and "peak" not in t.get_text() and "bandwidth" not in t.get_text()
    ]
    assert len(boxes) >= 10
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), (a, b)
    from resnet_cli.render.images import pyplot

    pyplot().close(figure)


def test_a_real_process_refuses_a_bad_depth_in_one_line():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "resnet_cli", "profile", "resnet18", "--depth", "module"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and "--depth" in done.stderr


def test_the_document_and_the_history_of_a_fabricated_run(resnet18_ops, tmp_path):
    import csv

    from resnet_cli.render.emit import to_json
    from resnet_cli.render.history import append, check_output
    from resnet_cli.views.profile import OUTPUT_COLUMNS, flat_records, profile_document

    report = _fabricated_report(resnet18_ops, "stage")
    data = json.loads(to_json(profile_document(report).data))
    assert [r["name"] for r in data["models"][0]["rows"]] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert data["peaks"]["ridge_flops_per_byte"] == 10.0
    path = tmp_path / "history.csv"
    header = [c.key for c in OUTPUT_COLUMNS]
    for _ in range(2):  # appended twice: one header, twelve rows
        append(check_output(str(path), header), flat_records(report), OUTPUT_COLUMNS, report.env)
    rows = list(csv.reader(path.open()))
    assert rows[0] == header and header[0] == "timestamp"  # as bench --output: a UTC timestamp first
    assert all(row[0].endswith("+00:00") for row in rows[1:])
    assert len(rows) == 13


def test_two_models_aligned_stage_by_stage(resnet18_ops):
    from resnet_cli.report.profile import difference

    peaks = Peaks(1e11, 1e10, "mm", "triad")
    # the second model: layer3's conv 30 ms slower, its batch norm 5 ms slower; the stem the same
    base = {("conv1", "", "conv"): 0.010, ("layer3.0.conv1", "", "conv"): 0.020, ("layer3.0.bn1", "", "bn"): 0.001}
    slower = {**base, ("layer3.0.conv1", "", "conv"): 0.050, ("layer3.0.bn1", "", "bn"): 0.006}
    first = model_profile("a", "", resnet18_ops, _fabricated(resnet18_ops, base), peaks, "stage", 4)
    second = model_profile("b", "", resnet18_ops, _fabricated(resnet18_ops, slower), peaks, "stage", 4)
    d = difference(first, second)
    # free times: 1.1 × the rows' sums (31 ms and 66 ms)
    assert d.total_s == pytest.approx(1.1 * 0.066 - 1.1 * 0.031)
    assert d.relative == pytest.approx(35 / 31)
    assert d.largest_rows()[0][:2] == ("layer3", pytest.approx(0.035))
    assert [name for name, *_ in d.largest_rows()] == ["layer3"]  # the only stage that changed
    assert dict(d.categories)["conv"] == pytest.approx(0.030)
    assert dict(d.categories)["batch norm"] == pytest.approx(0.005)
    assert d.categories[0][0] == "conv"  # largest change first


def test_the_api_profiles_your_own_module_without_touching_it():
    import resnet_cli

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())
            self.classifier = nn.Linear(8, 2)

        def forward(self, x):
            return self.classifier(self.features(x).mean((2, 3)))

    net = Net()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = resnet_cli.profile(
        net, input="2x3x16x16", device="cpu", depth="layer", iterations=1, warmup=0, training=True
    )
    names = {r.name for r in result.report.models[0].rows}
    assert {"features.0", "features.1", "features.2", "classifier"} <= names
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()) and net.training
    assert all(p.grad is None for p in net.parameters())
