"""A model handed over as code is identified exactly as its checkpoint is (issue 16, requirement 6).

One model of each registered structure, built by the library it comes from (torchvision, timm) or, for the
variants no library builds (Keras's and the CIFAR papers'), by our builder, is analysed as user code is and
must be identified as its own registered name: exact, with no flags.
"""

from pathlib import Path

import pytest
import torch

from resnet_cli.analysis.analyze import analyze
from resnet_cli.comparison.identify import closest
from resnet_cli.comparison.models import compare_models
from resnet_cli.nn.model import build_model
from resnet_cli.sources.target import resolve_target
from resnet_cli.spec import registry
from resnet_cli.structure.align import structure
from tests.fixtures.library_models import build

REPO = Path(__file__).resolve().parents[1]
LIBRARY = "tests/fixtures/library_models.py"

# one of each structure a library builds: block kinds, stems (7×7, deep, tiered), shortcuts, SE, ECA, ResNet-RS,
# ResNetV2, ResNeXt, Wide
FROM_LIBRARIES = (
    "resnet18",
    "resnet50",
    "resnext50_32x4d",
    "wide_resnet50_2",
    "resnet50c",
    "resnet50d",
    "resnet50s",
    "resnet10t",
    "resnet26t",
    "resnetrs50",
    "resnetv2_50",
    "resnetv2_50d",
    "resnetv2_18",
    "seresnet50",
    "seresnext26t_32x4d",
    "ecaresnet50d",
    "ecaresnetlight",
    "ecaresnet26t",
    "ecaresnext26t_32x4d",
)
# those no library builds: our builder, from the registered spec (its parameters are checked against the
# papers' and Keras's counts in tests/test_families.py)
FROM_OUR_BUILDER = (
    "resnet50_v1",
    "resnet50_keras",
    "resnet50v2_keras",
    "resnet20",
    "resnet18_cifar",
    "preact_resnet164",
    "wrn_16_8",
    "resnext29_8x64d",
)


def _identify(model, name):
    shape = resolve_target(name, None).input_shape
    found = closest(structure(analyze(model.eval(), shape)), shape, None)
    return (found.label, found.exact, found.flags) if found else None


@pytest.mark.parametrize("name", FROM_LIBRARIES)
def test_library_models_as_code_are_their_own_name(name):
    with torch.device("meta"):
        model = build(name)
    assert _identify(model, name) == (name, True, ())


@pytest.mark.parametrize("name", FROM_OUR_BUILDER)
def test_builder_models_as_code_are_their_own_name(name):
    assert _identify(build_model(registry.VARIANTS[name].spec, "meta"), name) == (name, True, ())


@pytest.mark.parametrize("name", ["ecaresnet50d", "resnetrs50", "resnet26t", "resnetv2_50"])
def test_compare_names_timm_code_as_its_checkpoint(name, monkeypatch):
    monkeypatch.chdir(REPO)
    comparison = compare_models([f"{LIBRARY}:{name}"])
    subject = comparison.subject
    assert (subject.closest.label, subject.closest.exact) == (name, True)
    assert comparison.models[0].name == name and not subject.differences


def test_eca_is_not_squeeze_excitation(monkeypatch):
    monkeypatch.chdir(REPO)
    comparison = compare_models(
        ["seresnet50d" if "seresnet50d" in registry.VARIANTS else "seresnet50", f"{LIBRARY}:ecaresnet50d"]
    )
    rows = [r.message for r in comparison.models[1].differences]
    assert any(
        m.startswith(
            "every block of layer1–layer4: efficient channel attention where the reference has squeeze-and-excitation"
        )
        for m in rows
    ), rows
