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
# Keras's torch backend converts its variables to numpy without numpy 2's copy keyword: its warning, not ours
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


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


APPLICATIONS = {
    "ResNet50": "resnet50_keras",
    "ResNet101": "resnet101_keras",
    "ResNet152": "resnet152_keras",
    "ResNet50V2": "resnet50v2_keras",
    "ResNet101V2": "resnet101v2_keras",
    "ResNet152V2": "resnet152v2_keras",
}


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
        total,
        trainable,
        non_trainable,
    )
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


# ---- Keras's files ----


def _random_batch_norms(model, rng) -> None:
    for layer in model.layers:  # BatchNorm statistics other than Keras's 0 and 1, so that a mix-up shows
        if type(layer).__name__ == "BatchNormalization":
            c = layer.gamma.shape[0]
            layer.set_weights(
                [rng.uniform(0.5, 1.5, c), rng.normal(0, 0.1, c), rng.normal(0, 0.1, c), rng.uniform(0.5, 1.5, c)]
            )


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """keras.applications ResNet50 and ResNet50V2 (32×32, 10 classes, non-trivial BatchNorm statistics), each with
    its .weights.h5 and Keras's output on one input."""
    import numpy as np

    folder = tmp_path_factory.mktemp("keras")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 32, 32, 3)).astype("float32")
    found = {}
    for constructor in ("ResNet50", "ResNet50V2"):
        with keras_model.device_scope("cpu"):
            model = getattr(keras.applications, constructor)(
                weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
            )
        _random_batch_norms(model, rng)
        path = str(folder / f"{constructor}.weights.h5")
        model.save_weights(path)
        found[constructor] = (model, path, np.asarray(model.predict(x, verbose=0)))
    return found, x, folder


@pytest.fixture(scope="module")
def small_v2(tmp_path_factory):
    """keras.applications' ResNetV2 builder with two blocks of widths 8 … 64 per stage, saved as Keras 2's legacy
    .h5 (the layers' own names) and as a .keras archive."""
    from keras.src.applications.resnet import ResNet, stack_residual_blocks_v2

    def stacks(x):
        for index, filters in enumerate((8, 16, 32)):
            x = stack_residual_blocks_v2(x, filters, 2, name=f"conv{index + 2}")
        return stack_residual_blocks_v2(x, 64, 2, stride1=1, name="conv5")

    folder = tmp_path_factory.mktemp("small")
    with keras_model.device_scope("cpu"):
        model = ResNet(stacks, True, True, weights=None, input_shape=(32, 32, 3), classes=10, name="small")
    model.save(str(folder / "small.h5"))
    model.save(str(folder / "small.keras"))
    return model, folder


@pytest.mark.parametrize("constructor, variant", [("ResNet50", "resnet50_keras"), ("ResNet50V2", "resnet50v2_keras")])
def test_keras_weights_agree_both_ways(saved, constructor, variant):
    import numpy as np
    import torch

    from resnet_cli.comparison import keras_port

    found, x, folder = saved
    model, path, theirs = found[constructor]
    ours = resnet_cli.build(variant, weights=path, num_classes=10).eval()  # --weights FILE.weights.h5
    with torch.no_grad():
        output = ours(torch.from_numpy(x).permute(0, 3, 1, 2)).numpy()
    assert np.abs(output - theirs).max() < 1e-4  # Keras's own predict on the same input
    exported = str(folder / f"{variant}.exported.weights.h5")
    keras_port.write(ours.state_dict(), ours.spec, exported)
    for variable in model.weights:  # forget Keras's own weights, then read back what we wrote
        variable.assign(np.zeros(variable.shape, "float32"))
    model.load_weights(exported)
    assert np.abs(np.asarray(model.predict(x, verbose=0)) - output).max() < 1e-4


def test_keras_weight_files_are_identified(saved, small_v2, cli):
    import json

    found, _, _ = saved
    for constructor, variant in (("ResNet50", "resnet50_keras"), ("ResNet50V2", "resnet50v2_keras")):
        result = cli("summary", found[constructor][1], "--format", "json")  # Keras 3: layers by class and position
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["identified_as"]["label"] == f"{variant} --num-classes 10"
        assert f"checkpoint identified as {variant} --num-classes 10" in result.stderr
    model, folder = small_v2
    result = cli("summary", str(folder / "small.h5"), "--format", "json")  # legacy: the layers' own names
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["identified_as"]["name"] == "resnet50v2_keras"
    assert doc["identified_as"]["flags"]["--layers"] == "2,2,2,2"
    assert doc["total"]["keras_total_params"] == model.count_params()


def test_keras_archive_is_loaded_in_safe_mode(small_v2, cli, tmp_path):
    import json

    model, folder = small_v2
    result = cli("summary", str(folder / "small.keras"), "--input", "1x3x32x32", "--format", "json")
    assert result.exit_code == 0, result.stderr
    total, _, non_trainable = _keras_counts(model)
    doc = json.loads(result.stdout)["total"]
    assert (doc["keras_total_params"], doc["keras_non_trainable_params"]) == (total, non_trainable)
    marker = tmp_path / "ran"
    inputs = keras.Input((8, 8, 3))
    # a Lambda whose code would leave a file behind if it ran (no closure: Keras stores its bytecode)
    touch = eval(f"lambda t: t if __import__('pathlib').Path({str(marker)!r}).touch() else t")
    keras.Model(inputs, keras.layers.Lambda(touch)(inputs)).save(str(tmp_path / "lambda.keras"))
    marker.unlink(missing_ok=True)
    line = assert_one_line_error(cli("summary", str(tmp_path / "lambda.keras")), 2, "safe mode", "Lambda")
    assert not marker.exists(), line


def test_export_to_keras_needs_its_suffix(cli, tmp_path):
    assert_one_line_error(
        cli("compare", "resnet50_keras", "resnet50_keras", "--export-weights", str(tmp_path / "w.h5")),
        2,
        "FILE.weights.h5",
    )


# ---- students' Keras ResNets against the reference ----


def _compare(cli, reference, *models, input_shape="1x3x224x224"):
    import json

    result = cli("compare", reference, *(f"{FIXTURES}:{m}" for m in models), "--input", input_shape, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["models"]


def test_seed_style_keras_cifar_resnet18_against_resnet18_cifar(cli):
    reference, faithful, biased = _compare(
        cli, "resnet18_cifar", "cifar_resnet18", "cifar_resnet18_keras_default_bias", input_shape="1x3x32x32"
    )
    assert faithful["total"]["params"] == reference["total"]["params"] == 11_173_962  # kuangliu's ResNet-18
    assert faithful["total"]["macs"] == reference["total"]["macs"]
    assert faithful["differences"] == []  # an explicit ZeroPadding2D before a strided conv is the padded conv
    assert faithful["closest"] == {"name": "resnet18_cifar", "flags": {}, "exact": True}
    # Conv2D's default use_bias=True: one bias per output channel of every conv — the stem's 64, two 3×3 convs
    # of each of the two blocks per stage, and each stride-2 stage's projection
    (row,) = biased["differences"]
    assert row["message"].startswith("every conv: a bias where the reference's conv has none")
    assert row["params_delta"] == 64 + sum(4 * w for w in (64, 128, 256, 512)) + 128 + 256 + 512 == 4_800


def test_functional_conv_block_resnet50_against_resnet50_keras(cli):
    reference, faithful, unpadded = _compare(
        cli, "resnet50_keras", "functional_resnet50", "functional_resnet50_unpadded_pool"
    )
    assert faithful["total"]["params"] == reference["total"]["params"] == 25_583_592  # Keras: 25,636,712 - 53,120
    assert faithful["total"]["macs"] == reference["total"]["macs"]
    assert faithful["differences"] == []
    assert faithful["closest"] == {"name": "resnet50_keras", "flags": {}, "exact": True}
    (row,) = unpadded["differences"]
    assert row["model"] == "pool1" and "55×55 instead of 56×56" in row["message"]


def test_import_resnet_cli_imports_neither_torch_nor_keras():
    import subprocess
    import sys

    code = "import sys, resnet_cli; print('torch' in sys.modules, 'keras' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert out.stdout.split() == ["False", "False"]


def test_without_h5py_a_keras_file_gets_one_line(cli, monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_h5py(name, *args, **kwargs):
        if name.split(".")[0] == "h5py":
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_h5py)
    path = tmp_path / "r50.weights.h5"
    path.write_bytes(b"")
    assert_one_line_error(cli("summary", str(path)), 2, "pip install 'resnet-cli[keras]'")
