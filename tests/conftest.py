"""Shared fixtures. Reference libraries (torchvision, timm, fvcore) are test dependencies: they must be
installed (`pip install -e '.[test]'`), so these tests run everywhere, never skip."""

import pytest
from typer.testing import CliRunner

from resnet_cli.cli import app


@pytest.fixture()
def cli():
    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(app, list(args))

    return invoke
