"""The registered variants, one module per source of truth, in the order ``resnet-cli list`` shows them.

Each module holds ``FAMILIES`` (the families it defines) and ``VARIANTS`` (their variants, in order): data only.
A new variant is a new line in its family's module; a new family is a new module added to ``SOURCES``.
"""

from resnet_cli.spec.families import cifar, keras, paper, timm, torchvision

SOURCES = (torchvision, paper, timm, cifar, keras)
