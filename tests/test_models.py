"""MODEL, in every form and every command: registered names, the user's own code, checkpoints; the Python API.

Reference figures: torchvision's published parameter counts (ResNet50_Weights / ResNet18_Weights meta:
25,557,032 and 11,689,512), timm's own models and state_dicts, and hand calculations written out here.
"""

import json
import os

import pytest
import timm
import torch
import torchvision
from conftest import assert_one_line_error
from safetensors.torch import save_file

import resnet_cli
from resnet_cli import api
from resnet_cli.sources.target import resolve_target

RESNET50_PARAMS = 25_557_032  # torchvision ResNet50_Weights.IMAGENET1K_V1.meta["num_params"]
RESNET18_PARAMS = 11_689_512  # torchvision ResNet18_Weights.IMAGENET1K_V1.meta["num_params"]
STUDENT = "tests/fixtures/student_models.py"


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _json(cli, *args):
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Checkpoints as people download them: random weights, saved here, in the layouts the wild uses."""
    folder = tmp_path_factory.mktemp("checkpoints")
    torch.manual_seed(0)
    paths = {}
    paths["tv_resnet50"] = folder / "resnet50.pth"
    torch.save(torchvision.models.resnet50().state_dict(), paths["tv_resnet50"])
    paths["tv_resnext"] = folder / "resnext.pt"  # under "model", with DistributedDataParallel's prefix
    state = {f"module.{k}": v for k, v in torchvision.models.resnext50_32x4d().state_dict().items()}
    torch.save({"model": state, "epoch": 90}, paths["tv_resnext"])
    paths["timm_resnet50d"] = folder / "resnet50d.bin"
    torch.save({"state_dict": timm.create_model("resnet50d").state_dict()}, paths["timm_resnet50d"])
    paths["timm_v2"] = folder / "resnetv2_50.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("resnetv2_50").state_dict().items()}, paths["timm_v2"])
    paths["timm_seresnet50"] = folder / "seresnet50.pth"
    torch.save(timm.create_model("seresnet50").state_dict(), paths["timm_seresnet50"])
    paths["cifar10_resnet18"] = folder / "resnet18_cifar10.pth"  # no registered name: 10 classes, 7x7 stem
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), paths["cifar10_resnet18"])
    paths["student"] = folder / "student.pth"
    from tests.fixtures.student_models import KerasResNet50

    torch.save(KerasResNet50().state_dict(), paths["student"])
    paths["module"] = folder / "whole_module.pt"  # a pickled nn.Module: weights_only refuses it
    torch.save(torchvision.models.resnet18(), paths["module"])
    paths["legacy"] = folder / "legacy_seresnet18.pth"  # timm's legacy SENet layout (layer0, …)
    torch.save(timm.create_model("legacy_seresnet18").state_dict(), paths["legacy"])
    paths["text"] = folder / "notes.pth"
    paths["text"].write_text("not a checkpoint\n")
    return {k: str(v) for k, v in paths.items()}


# ---- checkpoints ----


@pytest.mark.parametrize(
    "key, name",
    [
        ("tv_resnet50", "resnet50"),
        ("tv_resnext", "resnext50_32x4d"),
        ("timm_resnet50d", "resnet50d"),
        ("timm_v2", "resnetv2_50"),
        ("timm_seresnet50", "seresnet50"),
    ],
)
def test_checkpoints_of_torchvision_and_timm_are_identified(checkpoints, key, name):
    target = resolve_target(checkpoints[key])
    assert target.source == "checkpoint" and target.identified == name
    from resnet_cli.spec.registry import VARIANTS

    assert target.spec == VARIANTS[name].spec


def test_summary_of_a_checkpoint_reports_as_for_its_variant(cli, checkpoints):
    doc = _json(cli, "summary", checkpoints["tv_resnet50"])
    assert doc["total"]["params"] == RESNET50_PARAMS
    assert doc["description"] == "checkpoint identified as resnet50"
    assert [s["name"] for s in doc["stages"]] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    result = cli("summary", checkpoints["tv_resnet50"])
    assert "identified as resnet50" in result.stdout
    assert "stride placement" in result.stderr  # what the tensors cannot tell, said once, on stderr


def test_an_unregistered_checkpoint_gets_the_flags_that_rebuild_it(cli, checkpoints):
    doc = _json(cli, "summary", checkpoints["cifar10_resnet18"])
    # resnet18 with a 10-class fc: 11,689,512 - 512*1000 - 1000 + 512*10 + 10
    assert doc["total"]["params"] == RESNET18_PARAMS - 513_000 + 5_130
    # named as compare names it: the registered variant it differs least from, and the flags (issue 18)
    assert doc["description"] == "checkpoint identified as resnet18 --num-classes 10"
    assert doc["identified_as"] == {
        "name": "resnet18",
        "flags": {"--num-classes": "10"},
        "label": "resnet18 --num-classes 10",
    }
    rebuilt = _json(cli, "summary", "resnet18", "--num-classes", "10")
    assert rebuilt["total"] == doc["total"]
    custom = _json(cli, "summary", "custom", "--block", "basic", "--layers", "2,2,2,2", "--num-classes", "10")
    assert custom["total"] == doc["total"]


def test_a_checkpoint_loads_into_the_model_it_describes(checkpoints):
    model = api.build(checkpoints["timm_v2"])  # timm's ResNetV2 names, read as ours
    reference = timm.create_model("resnetv2_50").eval()
    from safetensors.torch import load_file

    reference.load_state_dict(load_file(checkpoints["timm_v2"]))
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.eval()(x), reference(x), atol=1e-5)


@pytest.mark.parametrize(
    "key, fragment",
    [
        ("text", "is not a readable checkpoint"),
        ("module", "weights_only=True) refused it: it holds a pickled torchvision.models.resnet.ResNet"),
        ("student", "holds no 'layer1.0.conv1.weight' tensor"),
        ("legacy", "do not follow a ResNet layout this tool reads"),
    ],
)
def test_files_that_are_no_resnet_checkpoint_are_refused(cli, checkpoints, key, fragment):
    assert_one_line_error(cli("summary", checkpoints[key]), 2, fragment)


def test_weights_into_a_registered_model(cli, checkpoints):
    doc = _json(cli, "flops", "resnet50", "--weights", checkpoints["tv_resnet50"])
    assert doc["total"]["params"] == RESNET50_PARAMS


def test_weights_that_do_not_fit_are_listed_and_exit_1(cli, checkpoints):
    result = cli("summary", "resnet18", "--weights", checkpoints["tv_resnet50"])
    assert result.exit_code == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    # 20 tensors listed, then how many more, then the one error line
    assert len(lines) == 22 and lines[20].strip().startswith("… and ")
    assert lines[0].strip().startswith("shape differs: layer1.0.conv1.weight: model 64×64×3×3, checkpoint 64×64×1×1")
    assert "does not fit the model" in lines[-1] and lines[-1].startswith("resnet-cli: error:")
    few = cli("summary", "resnet50", "--num-classes", "10", "--weights", checkpoints["tv_resnet50"])
    assert few.exit_code == 1
    listed = few.stderr.splitlines()
    assert listed[:2] == [
        "  shape differs: fc.weight: model 10×2048, checkpoint 1000×2048",
        "  shape differs: fc.bias: model 10, checkpoint 1000",
    ]
    assert "0 missing, 0 unexpected and 2 mis-shaped tensors" in listed[-1]


def test_weights_into_a_users_model(cli, checkpoints):
    ok = _json(cli, "summary", f"{STUDENT}:keras_resnet50", "--weights", checkpoints["student"])
    assert ok["total"]["params"] == RESNET50_PARAMS
    wrong = cli("summary", f"{STUDENT}:keras_resnet50", "--weights", checkpoints["tv_resnet50"])
    assert wrong.exit_code == 1 and "missing in the checkpoint: stage0.0.weight" in wrong.stderr


# ---- every MODEL form in every command ----


@pytest.mark.parametrize(
    "model", ["resnet18", f"{STUDENT}:cifar_resnet18", "tests.fixtures.student_models:cifar_resnet18"]
)
@pytest.mark.parametrize("command", ["summary", "flops"])
def test_each_form_in_summary_and_flops(cli, model, command):
    doc = _json(cli, command, model, "--input", "1x3x32x32")
    params = doc["total"]["params"]
    # the CIFAR ResNet-18 by hand: resnet18's body, a 3x3 stem (3*64*9 + 2*64 for its BN) and fc 512->10
    cifar = RESNET18_PARAMS - (3 * 64 * 49 + 128) - 513_000 + 3 * 64 * 9 + 128 + 5_130
    assert params == (RESNET18_PARAMS if model == "resnet18" else cifar)


def test_checkpoint_in_compare(cli, checkpoints):
    doc = _json(cli, "compare", "resnet50", checkpoints["tv_resnet50"])
    assert [m["total"]["params"] for m in doc["models"]] == [RESNET50_PARAMS, RESNET50_PARAMS]


def test_each_form_in_bench(cli, checkpoints):
    for model in ("resnet20", f"{STUDENT}:cifar_resnet18", checkpoints["cifar10_resnet18"]):
        result = cli(
            "bench",
            model,
            "--device",
            "cpu",
            "--input",
            "1x3x32x32",
            "--min-time",
            "0.05",
            "--warmup",
            "0",
            "--format",
            "json",
        )
        assert result.exit_code == 0, (model, result.stderr)
        doc = json.loads(result.stdout)
        assert doc["results"][0]["median_ms"] > 0


def test_unknown_model_names_every_form_tried(cli):
    line = assert_one_line_error(cli("summary", "resnet51"), 2, "unknown model 'resnet51'", "did you mean")
    assert "path/to/file.py:callable" in line and ".safetensors" in line
    assert_one_line_error(cli("summary", "no/such/file.pth"), 2, "no such file")
    assert_one_line_error(cli("flops", "tests/fixtures:build"), 2, "is a directory, not a Python file")
    assert_one_line_error(
        cli("summary", f"{STUDENT}"), 2, "is a Python file: name the function or class", f"{STUDENT}:CALLABLE"
    )


# ---- stages of any model ----


def test_timm_stem_stages_head_give_layer_rows(cli):
    doc = _json(cli, "summary", "timm.models.resnetv2:resnetv2_50", "--input", "1x3x64x64")
    assert [s["name"] for s in doc["stages"]] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert doc["stages"][1]["kind"] == "1 projection + 2 identity pre-act bottlenecks"
    assert doc["total"]["params"] == sum(p.numel() for p in timm.create_model("resnetv2_50").parameters())
    blocks = _json(cli, "summary", "timm.models.resnetv2:resnetv2_50", "--input", "1x3x64x64", "--depth", "block")
    names = [s["name"] for s in blocks["stages"]]
    assert names[1:4] == ["stages.0.blocks.0", "stages.0.blocks.1", "stages.0.blocks.2"] and len(names) == 2 + 16


def test_other_models_get_their_children_in_run_order(cli):
    doc = _json(cli, "summary", f"{STUDENT}:keras_resnet50")
    # fc is defined first in __init__ but runs last
    assert [s["name"] for s in doc["stages"]] == ["stage0", "stage1", "stage2", "stage3", "stage4", "pool", "fc"]
    assert doc["total"]["params"] == RESNET50_PARAMS  # it equals resnet50 (v1 or v1.5: same tensors)
    custom = _json(cli, "summary", f"{STUDENT}:keras_resnet50", "--stages", "stage0,stage1,stage3,pool")
    assert [s["name"] for s in custom["stages"]] == ["stage0", "stage1", "stage3", "pool"]
    merged = {s["name"]: s["params"] for s in custom["stages"]}
    assert merged["stage1"] == doc["stages"][1]["params"] + doc["stages"][2]["params"]
    assert_one_line_error(
        cli("summary", f"{STUDENT}:keras_resnet50", "--stages", "layer1"),
        2,
        "--stages: no module 'layer1'",
        "stage0, stage1",
    )


def test_fvcore_below_macs_is_said_next_to_the_figure(cli, tmp_path):
    model = tmp_path / "tensordot.py"
    model.write_text(
        "import torch\nfrom torch import nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.w = nn.Parameter(torch.ones(8, 4))\n"
        "    def forward(self, x):\n        return torch.tensordot(x.flatten(1), self.w, dims=1)\n"
    )
    doc = _json(cli, "summary", f"{model}:M", "--input", "2x2x2x2")
    # [2,8] x [8,4]: 2*8*4 = 64 multiply-accumulates, which fvcore has no handle for (aten::tensordot)
    assert doc["total"]["macs"] == 64 and doc["total"]["flops"] == 0
    assert doc["fvcore_uncounted"] == [{"call": "tensordot", "calls": 1, "macs": 64}]
    assert (
        "below the MACs, because fvcore has no handle for tensordot ×1"
        in cli("summary", f"{model}:M", "--input", "2x2x2x2").stdout
    )


def test_unsupported_operators_are_listed_in_summary(cli, tmp_path):
    model = tmp_path / "softmax.py"
    model.write_text(
        "import torch\nfrom torch import nn\n"
        "def build():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Softmax(-1))\n"
    )
    doc = _json(cli, "summary", f"{model}:build", "--input", "1x3x2x2")
    assert doc["unsupported"] == [{"op": "aten._softmax", "calls": 1, "phase": "forward", "modules": ["2"]}]
    assert "_softmax ×1" in cli("summary", f"{model}:build", "--input", "1x3x2x2").stdout


# ---- the user's code behind one boundary ----


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown", "table"])
def test_a_model_that_prints_leaves_stdout_to_the_results(cli, fmt):
    result = cli("summary", f"{STUDENT}:prints_everywhere", "--input", "1x3x8x8", "--format", fmt)
    assert result.exit_code == 0
    assert "Chatty" not in result.stdout.replace("prints_everywhere", "")
    assert "building Chatty" in result.stderr and "forward of Chatty (1, 3, 8, 8)" in result.stderr
    if fmt == "json":
        assert json.loads(result.stdout)["total"]["params"] == 3 * 8 * 9 + 8 + 8 * 10 + 10
    imported = cli("summary", "tests/fixtures/chatty_module.py:build", "--input", "1x3x8x8", "--format", fmt)
    assert imported.exit_code == 0 and "chatty_module imported" in imported.stderr
    assert "imported" not in imported.stdout


@pytest.mark.parametrize("callable_, code", [("exits", 0), ("exits_with_3", 3)])
def test_sys_exit_in_user_code_is_a_failure_of_theirs(cli, callable_, code):
    result = cli("summary", f"{STUDENT}:{callable_}")
    assert result.exit_code == 1 and result.stdout == ""
    assert f"calling it called sys.exit({code})" in result.stderr.strip().splitlines()[-1]


def test_a_module_whose_import_prints_keeps_stdout_clean(cli):
    result = cli("summary", "this:not_there", "--format", "json")  # `import this` prints the Zen of Python
    assert result.exit_code == 2 and result.stdout == ""
    assert "has no callable 'not_there'" in result.stderr.strip().splitlines()[-1]


# ---- the bugs found by trying it as a new user ----


def test_flops_training_at_batch_one_with_a_1x1_last_stage(cli):
    doc = _json(cli, "flops", "resnet18", "--input", "1x3x32x32", "--training")
    # the forward still equals fvcore's figure for resnet18 at 32x32 (checked in test_verify); the step adds
    # the backward (about twice the forward's multiply-accumulates: input and weight gradients)
    assert doc["training"]["backward_macs"] > doc["total"]["macs"]


def test_keras_total_is_only_claimed_for_keras_models(cli):
    assert "Keras total" not in cli("summary", "resnet50").stdout
    assert "53,120 running mean/variance values" in cli("summary", "resnet50").stdout
    # keras.applications.ResNet50().summary(): Total params: 25,636,712
    assert "25,636,712 params, as Keras's model.summary() prints it" in cli("summary", "resnet50_keras").stdout


# ---- the Python API ----


def test_import_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, resnet_cli; assert 'torch' not in sys.modules; print(resnet_cli.__version__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def _flop_counter_macs(model, shape, *, training=False) -> dict:
    """torch.utils.flop_counter's FLOPs per module (2 per multiply-add) halved: MACs, keyed by module name."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        out = model(torch.randn(shape))
        if training:
            out.sum().backward()
    return {
        name.removeprefix(type(model).__name__).lstrip(".") or "": sum(by_op.values()) // 2
        for name, by_op in counter.get_flop_counts().items()
    }


def test_api_summary_blocks_against_torchvision_and_torchs_counter():
    model = torchvision.models.resnet18().eval()
    result = resnet_cli.summary("resnet18", input="1x3x64x64", depth="block").to_dict()
    macs = _flop_counter_macs(model, (1, 3, 64, 64))
    params = {name: sum(p.numel() for p in module.parameters()) for name, module in model.named_modules()}
    blocks = [s for s in result["stages"] if s["name"].startswith("layer")]
    assert [b["name"] for b in blocks] == [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    for block in blocks:
        assert block["params"] == params[block["name"]]
        assert block["macs"] == macs[block["name"]]
    assert result["total"]["params"] == RESNET18_PARAMS


def test_api_flops_of_a_training_step_against_torchs_counter():
    from tests.fixtures.student_models import cifar_resnet18

    doc = resnet_cli.flops(f"{STUDENT}:cifar_resnet18", input="2x3x32x32", training=True).to_dict()
    model = cifar_resnet18().train()
    forward = _flop_counter_macs(model, (2, 3, 32, 32))[""]
    step = _flop_counter_macs(model, (2, 3, 32, 32), training=True)[""]
    assert doc["total"]["macs"] == doc["training"]["forward_macs"] == forward
    assert doc["training"]["forward_macs"] + doc["training"]["backward_macs"] == step


def test_api_compare_costs_the_v1_stride_placement_by_hand():
    doc = resnet_cli.compare("resnet50", "resnet50_v1").to_dict()
    # v1 strides the first 1×1 conv of layer2-4's first block instead of the 3×3: that conv and the BatchNorm
    # after it run at a quarter of the positions. Per stage (Cin, width, input size): 3/4 of Cin·width·H² MACs
    # saved, and fvcore's 2 per element of the BatchNorm(width) on 3/4 of H² positions
    stages = ((256, 128, 56), (512, 256, 28), (1024, 512, 14))
    macs = sum(3 * cin * width * h * h // 4 for cin, width, h in stages)
    batch_norm = sum(2 * width * 3 * h * h // 4 for _, width, h in stages)
    assert macs == 231_211_008
    v1 = doc["models"][1]["vs_reference"]
    assert v1["macs"]["diff"] == -macs and v1["flops"]["diff"] == -(macs + batch_norm)
    assert v1["params"]["diff"] == 0  # the same tensors


def test_api_compare_blocks_by_hand():
    doc = resnet_cli.compare("basic", "bottleneck").to_dict()
    weights = [b["total"]["conv_weights"] for b in doc["sections"][0]["blocks"]]
    # BasicBlock 64→64: two 3×3 convs, 2·3·3·64·64; Bottleneck 256→64→256: 1·1·256·64 + 3·3·64·64 + 1·1·64·256
    assert weights == [2 * 3 * 3 * 64 * 64, 256 * 64 + 3 * 3 * 64 * 64 + 64 * 256] == [73_728, 69_632]


def test_api_takes_modules_and_specs_and_renders():
    model = torchvision.models.resnet18()
    result = resnet_cli.summary(model, input=(1, 3, 64, 64))
    assert result.to_dict()["total"]["params"] == RESNET18_PARAMS
    assert result.to_dict()["stages"][0]["name"] == "stem"
    assert all(p.device.type == "cpu" for p in model.parameters())  # the user's model is left where it was
    assert "| stage |" in result._repr_markdown_()
    from rich.console import Console

    console = Console(width=80, record=True, file=open(os.devnull, "w"))
    console.print(result)
    assert "11,689,512" in console.export_text()
    built = resnet_cli.build("resnet50", groups=32, width_per_group=4)
    assert sum(p.numel() for p in built.parameters()) == 25_028_904  # torchvision ResNeXt50_32X4D meta
    from resnet_cli.spec.fields import BlockKind, ResNetSpec

    spec = ResNetSpec(block=BlockKind.BASIC, layers=(2, 2, 2, 2))
    assert resnet_cli.summary(spec).to_dict()["total"]["params"] == RESNET18_PARAMS
    with pytest.raises(AttributeError):
        result.report = None


def test_unsupported_operators_are_listed_in_compare(cli, tmp_path):
    model = tmp_path / "softmax.py"
    model.write_text(
        "from torch import nn\n"
        "def plain():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 5))\n"
        "def softmax():\n    return nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Softmax(-1))\n"
    )
    args = ("compare", f"{model}:plain", f"{model}:softmax", "--input", "1x3x2x2")
    doc = _json(cli, *args)
    assert [m["unsupported"] for m in doc["models"]] == [
        [],
        [{"op": "aten._softmax", "calls": 1, "phase": "forward", "modules": ["2"]}],
    ]
    assert f"{model}:softmax: operators no formula covers, counted as 0 FLOPs: _softmax ×1" in cli(*args).stdout


# ---- a real model is built on the meta device, then materialised and initialised once ----


@pytest.mark.parametrize("name", ["resnet18d", "seresnext26t_32x4d", "ecaresnet26t", "resnetv2_50d", "resnet50_keras"])
def test_a_built_model_holds_every_value_it_should(name):
    # every tensor materialised by hand (no to_empty garbage left): BatchNorm's running statistics as a fresh
    # nn.BatchNorm2d holds them; convolution weights He-normal with fan-out (std √(2 / (out × k × k)), the
    # formula of torchvision's initialisation, checked on the largest ones where the sample is big enough);
    # every other tensor as its torch module draws it (finite, and a bias within ±1/√fan_in)
    from resnet_cli.nn.model import build_model
    from resnet_cli.spec.registry import VARIANTS

    torch.manual_seed(0)
    model = build_model(VARIANTS[name].spec)
    reference = build_model(VARIANTS[name].spec, "meta")
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    assert not any(t.is_meta for t in model.state_dict().values())
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            assert torch.equal(module.running_mean, torch.zeros_like(module.running_mean))
            assert torch.equal(module.running_var, torch.ones_like(module.running_var))
            assert int(module.num_batches_tracked) == 0
            assert torch.equal(module.weight, torch.ones_like(module.weight))
            assert torch.equal(module.bias, torch.zeros_like(module.bias))
        elif isinstance(module, torch.nn.Conv2d):
            out, _, kh, kw = module.weight.shape
            if module.weight.numel() >= 100_000:
                expected = (2 / (out * kh * kw)) ** 0.5
                assert abs(module.weight.std().item() / expected - 1) < 0.05, (module, module.weight.std())
            if module.bias is not None:
                bound = 1 / module.weight[0].numel() ** 0.5
                assert module.bias.abs().max().item() <= bound
    assert all(torch.isfinite(t).all() for t in model.state_dict().values() if t.is_floating_point())
