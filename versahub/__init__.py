"""VersaHub: a persistent, authenticated Binder inside an institution's JupyterHub.

The package is split along the flow of one launch (see docs/architecture.md):
``spec`` (parse and validate what a user asks for), ``urls`` (Binder-compatible launch
URLs), ``policy`` (ask OPA), ``images`` (build and cache), ``site`` (site.yaml) and
``cli`` (the ``versahub`` command). Nothing in this top-level module does I/O.
"""

__version__ = "0.1.0"
