"""Layer 11 (top): Typer commands, one module per command, over the API (resnet_cli.api)."""
