"""`compare A B --export-weights FILE`: A's weights under B's names, loadable with strict=True, same outputs.

The check is the one a user would make: load FILE into their own model and run both on one input
(float32, eval mode); the outputs agree to 1e-5. The sources of the expected outputs are the reference
models themselves (ours, timm's), built independently of the export.
"""

import sys
from pathlib import Path

import pytest
import torch
from conftest import run_cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch):
    monkeypatch.chdir(REPO)
    sys.path.insert(0, str(REPO))
    yield
    sys.path.remove(str(REPO))


def _same_output(reference, model, shape):
    reference.eval()
    model.eval()
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference(x), model(x)
    assert expected.abs().max() > 1e-3  # a real signal, not zeros
    assert (expected - got).abs().max().item() <= 1e-5


def test_keras_style_resnet50_loads_resnet50_v1_weights(tmp_path):
    from safetensors.torch import load_file

    from resnet_cli.nn.model import build_model
    from resnet_cli.spec import registry
    from tests.fixtures.renamed_resnets import KerasStyleResNet50

    path = tmp_path / "keras.safetensors"
    result = run_cli(
        "compare",
        "resnet50_v1",
        "tests/fixtures/renamed_resnets.py:KerasStyleResNet50",
        "--input",
        "1x3x64x64",
        "--export-weights",
        str(path),
        "--seed",
        "3",
    )
    assert result.exit_code == 0, result.stderr
    import torchvision

    tensors = len(torchvision.models.resnet50().state_dict())  # v1 holds the same tensors as torchvision's v1.5
    # announced as every written file is: "wrote FILE (what it holds)"
    assert f"wrote {path} ({tensors} tensors of resnet50_v1 (initialised with seed 3)" in result.stderr
    model = KerasStyleResNet50()
    model.load_state_dict(load_file(path), strict=True)
    torch.manual_seed(3)
    _same_output(build_model(registry.VARIANTS["resnet50_v1"].spec), model, (2, 3, 64, 64))


def test_cifar_resnet18_takes_every_tensor_in_its_place():
    """Through the API, with the BatchNorm tensors random too (initialised, they are all ones and zeros), so
    that a swapped pair of same-shaped tensors would show in the outputs."""
    from resnet_cli.comparison import port
    from resnet_cli.comparison.models import compare_models
    from tests.fixtures.cifar_tutorials import ResNet18

    comparison = compare_models(["resnet18_cifar", "tests/fixtures/cifar_tutorials.py:ResNet18"])
    (source, target), (_, alignment) = comparison.handles
    plan = port.plan(alignment, source.model, target.model)
    assert plan.complete
    from resnet_cli.nn.model import build_model

    reference = build_model(source.target.spec)
    generator = torch.Generator().manual_seed(2)
    state = {
        name: (torch.rand(t.shape, generator=generator) * 0.5 + 0.75 if t.dim() == 1 and t.is_floating_point() else t)
        for name, t in reference.state_dict().items()
    }
    reference.load_state_dict(state)
    model = ResNet18()
    model.load_state_dict(port.ported_state(plan, state), strict=True)
    _same_output(reference, model, (2, 3, 32, 32))


def test_timm_to_torchvision(tmp_path):
    import timm
    import torchvision

    path = tmp_path / "tv.pt"
    result = run_cli(
        "compare",
        "timm.models:resnet18",
        "torchvision.models:resnet18",
        "--input",
        "1x3x64x64",
        "--export-weights",
        str(path),
    )
    assert result.exit_code == 0, result.stderr
    assert f"wrote {path} (" in result.stderr and "names, torch.save state_dict)" in result.stderr
    assert result.stdout.count("no differences") == 1
    model = torchvision.models.resnet18()
    model.load_state_dict(torch.load(path, weights_only=True), strict=True)
    torch.manual_seed(0)  # the default --seed: timm's own initialisation under it
    _same_output(timm.models.resnet18(), model, (2, 3, 64, 64))


def test_models_that_differ_are_refused_with_the_tensors(tmp_path):
    path = tmp_path / "w.safetensors"
    result = run_cli(
        "compare", "resnet50", "tests/fixtures/tutorial_mistakes.py:no_shortcut_bn", "--export-weights", str(path)
    )
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    # the four shortcut BatchNorms: γ, β, running mean, running variance and step counter each
    assert (
        "20 tensors of resnet50 have no counterpart in tests/fixtures/tutorial_mistakes.py:no_shortcut_bn: "
        "layer1.0.downsample.1.weight, layer1.0.downsample.1.bias" in line
    )
    assert line.endswith("layer4.0.downsample.1.num_batches_tracked; nothing written")
    assert "no BatchNorm after the projection conv" in result.stdout  # the comparison is still shown
    assert not path.exists() and not any(tmp_path.iterdir())


def test_same_parameters_other_computation_is_ported_with_a_warning(tmp_path):
    # a "valid"-padded stem: every tensor has its counterpart, but every map is smaller
    path = tmp_path / "valid.safetensors"
    result = run_cli(
        "compare",
        "resnet20",
        "tests/fixtures/cifar_tutorials.py:resnet20_valid_stem",
        "--export-weights",
        str(path),
        "-f",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert "the weights load, the outputs differ" in result.stderr and path.exists()


def test_export_ports_a_weights_checkpoint_not_a_seed(cli, tmp_path):
    # the first model takes a checkpoint (--weights); the export carries its tensors, renamed
    import torchvision
    from safetensors.torch import load_file

    from tests.fixtures.student_models import KerasResNet50

    torch.manual_seed(3)
    reference = torchvision.models.resnet50()
    checkpoint = tmp_path / "resnet50.pth"
    torch.save(reference.state_dict(), checkpoint)
    out = tmp_path / "ported.safetensors"
    result = cli(
        "compare",
        "resnet50_v1",
        "tests/fixtures/student_models.py:keras_resnet50",
        "--weights",
        str(checkpoint),
        "--export-weights",
        str(out),
    )
    assert result.exit_code == 0, result.stderr
    assert f"(from {checkpoint})" in result.stderr
    student = KerasResNet50()
    student.load_state_dict(load_file(out), strict=True)
    assert torch.equal(student.fc.weight, reference.fc.weight)
    assert torch.equal(student.stage1[0].shortcut[0].weight, reference.layer1[0].downsample[0].weight)
    both = cli(
        "compare",
        "resnet50_v1",
        "tests/fixtures/student_models.py:keras_resnet50",
        "--weights",
        str(checkpoint),
        "--export-weights",
        str(out),
        "--seed",
        "1",
    )
    assert both.exit_code == 2 and "give one of the two" in both.stderr
