"""The ``pipetest`` command: one module per command group, ``main`` the entry point."""

from pipetest_nb.views.cli.main import main

__all__ = ["main"]
