"""Keras 3 models and files, checked against Keras itself (issue 20).

Keras runs on its torch backend (selected here before keras is imported, as the tool does before it imports a
user's module). Every number asserted comes from Keras: ``count_params()``, ``trainable_weights``,
``non_trainable_weights``, each layer's ``output.shape``, ``model.predict``. Keras models are built once per
module, on the meta device where only shapes are needed, to keep these tests fast.
"""

from __future__ import annotations

import math
import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: the tool's own choice (sources/keras_model.py)

import keras
import pytest

import resnet_cli
from resnet_cli.sources import keras_model
from tests.conftest import assert_one_line_error

FIXTURES = "tests/fixtures/keras_models.py"


def _keras_counts(model) -> tuple[int, int, int]:
    """(total, trainable, non-trainable) as Keras's model.summary() prints them."""
    size = lambda weights: sum(math.prod(w.shape) for w in weights)
    return model.count_params(), size(model.trainable_weights), size(model.non_trainable_weights)


@pytest.fixture(scope="module")
def resnet50():
    with keras_model.device_scope("meta"):
        return keras.applications.ResNet50(weights=None)


def test_keras_resnet50_parameters_and_macs_equal_keras_and_resnet50_keras(resnet50):
    total, trainable, non_trainable = _keras_counts(resnet50)
    assert (total, trainable, non_trainable) == (25_636_712, 25_583_592, 53_120)  # Keras's model.summary()
    doc = resnet_cli.summary(resnet50).to_dict()
    ours = doc["total"]
    assert ours["keras_total_params"] == total
    assert ours["trainable_params"] == trainable
    assert ours["keras_non_trainable_params"] == non_trainable
    assert ours["macs"] == resnet_cli.summary("resnet50_keras").to_dict()["total"]["macs"]
    # Keras's own stages: conv1_* the stem, conv2_* … conv5_* layer1 … layer4, avg_pool/predictions the head
    assert [s["name"] for s in doc["stages"]] == ["stem", "layer1", "layer2", "layer3", "layer4", "head"]
    assert doc["stages"][1]["output_shape"] == [1, 56, 56, 256]  # N×H×W×C, as Keras gives it


APPLICATIONS = {"ResNet50": "resnet50_keras", "ResNet101": "resnet101_keras", "ResNet152": "resnet152_keras",
                "ResNet50V2": "resnet50v2_keras", "ResNet101V2": "resnet101v2_keras",
                "ResNet152V2": "resnet152v2_keras"}


@pytest.mark.parametrize("constructor", APPLICATIONS)
def test_keras_applications_are_exact(constructor, resnet50):
    """Every keras.applications ResNet: Keras's total / trainable / non-trainable parameters, every layer's output
    shape as Keras infers it, and the MACs of the registered *_keras variant."""
    if constructor == "ResNet50":
        model = resnet50
    else:
        with keras_model.device_scope("meta"):
            model = getattr(keras.applications, constructor)(weights=None)
    total, trainable, non_trainable = _keras_counts(model)
    doc = resnet_cli.summary(model, depth="layer").to_dict()
    ours = doc["total"]
    assert (ours["keras_total_params"], ours["trainable_params"], ours["keras_non_trainable_params"]) == (
        total, trainable, non_trainable)
    assert ours["macs"] == resnet_cli.flops(APPLICATIONS[constructor]).to_dict()["total"]["macs"]
    shapes = {row["name"]: tuple(row["output_shape"]) for row in doc["stages"]}
    for layer in model.layers[1:]:  # the InputLayer runs nothing
        assert shapes[layer.name] == (1, *layer.output.shape[1:]), layer.name


def test_keras_code_as_model_on_the_command_line(cli):
    result = cli("summary", f"{FIXTURES}:resnet50v2", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "channels-last" in result.stderr
    import json

    total = json.loads(result.stdout)["total"]
    # keras.applications.ResNet50V2(weights=None).summary(): 25,613,800 total, 45,440 non-trainable
    assert (total["keras_total_params"], total["keras_non_trainable_params"]) == (25_613_800, 45_440)


def test_another_backend_is_refused_in_one_line(cli, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert_one_line_error(cli("summary", f"{FIXTURES}:resnet50"), 2, "KERAS_BACKEND=jax", "KERAS_BACKEND=torch")


def test_without_keras_one_line_says_what_to_install(cli, monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_keras(name, *args, **kwargs):
        if name.split(".")[0] == "keras":
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_keras)
    model = tmp_path / "mine.py"
    model.write_text("import keras\n\ndef build():\n    return keras.applications.ResNet50(weights=None)\n")
    assert_one_line_error(cli("summary", f"{model}:build"), 2, "pip install 'resnet-cli[keras]'")
