"""Spawning: from an approved ServerSpec to a running, persistent named server.

``plan`` (pure: spec + site + decision → RuntimePlan), ``docker`` (pure: plan → DockerSpawner
traits), ``spawner`` (the DockerSpawner mixin that enforces the policy at every start),
``network`` (the internet-off Docker network), ``sharing`` (collaborators as JupyterHub
shares), ``credentials`` (scoped token file), ``culling`` (per-server idle/max-age service),
``handlers`` (the REST launch endpoint) and ``config`` (pure: the hub settings these need).
Nothing here runs at import time.
"""
