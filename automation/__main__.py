"""Allow ``python -m automation``."""

from automation.cli import run_command

run_command()
