"""`draw` reads the one canonical structure (issue 16, requirement 1): a TF-slim ResNet-50 V2 — a 1×1 conv as the
classifier on ``torch.mean`` in ``forward``, ``MaxPool2d(1)`` as the stride-1 shortcut, zero-padding before valid
convs — is drawn as the network it is: the global pool beside the fc, identity shortcuts, no padding boxes' layers.
"""

import torch

from resnet_cli.analysis.analyze import analyze
from resnet_cli.report.draw import diagram
from tests.fixtures.issue16_models import slim_resnet50_v2


def _stages():
    with torch.device("meta"):
        model = slim_resnet50_v2()
    figure = diagram("slim", "TF-slim ResNet-50 V2", analyze(model, (1, 3, 224, 224)))
    return {stage.name: stage for stage in figure.stages}


def _labels(stage):
    return [layer.label for part in stage.parts for layer in part.layers]


def test_slim_v2_draws_its_pool_with_the_classifier_and_identity_shortcuts():
    stages = _stages()
    assert _labels(stages["postnorm"]) == []  # BatchNorm + ReLU: no global pool drawn inside it
    assert _labels(stages["logits"]) == ["global avg-pool", "fc 1000"]  # the 1×1 conv on a 1×1 map is the fc
    assert _labels(stages["conv1_pad"]) == [] and _labels(stages["conv1"]) == ["7×7, 64, /2"]
    (group,) = [g for part in stages["block1"].parts for g in part.groups]
    # the stride-1 MaxPool2d(1) computes nothing: an identity; the stride-2 one subsamples
    assert group.shortcuts == (("projection 1×1, 256", 1), ("identity", 1), ("max-pool 1×1, /2", 1))
