"""Entry point of the Pulumi program (``main: pulumi/`` in Pulumi.yaml): see vh_program.

This folder has no ``__init__.py`` on purpose: it must never shadow the ``pulumi`` package.
"""

from vh_program import main

main()
