"""keras.applications' ResNets, rebuilt in PyTorch: checked against Keras's own parameter counts."""

from resnet_cli.spec.variant import KERAS_V1, KERAS_V2, R101, R152, Family, Variant

FAMILIES = (
    Family(
        "keras",
        "keras.applications, rebuilt in PyTorch",
        "the Total / Trainable / Non-trainable params Keras's model.summary() prints",
    ),
)

VARIANTS = (
    Variant(
        "resnet50_keras", "keras", KERAS_V1, "keras.applications.ResNet50: v1 stride placement, every conv with a bias"
    ),
    Variant(
        "resnet101_keras",
        "keras",
        KERAS_V1.replace(layers=R101),
        "keras.applications.ResNet101: v1 stride placement, every conv with a bias",
        sibling_of="resnet50_keras",
    ),
    Variant(
        "resnet152_keras",
        "keras",
        KERAS_V1.replace(layers=R152),
        "keras.applications.ResNet152: v1 stride placement, every conv with a bias",
        sibling_of="resnet50_keras",
    ),
    Variant(
        "resnet50v2_keras",
        "keras",
        KERAS_V2,
        "keras.applications.ResNet50V2: pre-activation, stride in each stage's last block",
    ),
    Variant(
        "resnet101v2_keras",
        "keras",
        KERAS_V2.replace(layers=R101),
        "keras.applications.ResNet101V2: pre-activation, stride in each stage's last block",
        sibling_of="resnet50v2_keras",
    ),
    Variant(
        "resnet152v2_keras",
        "keras",
        KERAS_V2.replace(layers=R152),
        "keras.applications.ResNet152V2: pre-activation, stride in each stage's last block",
        sibling_of="resnet50v2_keras",
    ),
)
