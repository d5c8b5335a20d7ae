"""``python -m versahub`` runs the command line."""

from versahub.cli import run

run()
