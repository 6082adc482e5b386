from resnet_cli.cli import run

run()
