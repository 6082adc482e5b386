from resnet_cli.cli.app import run

run()
