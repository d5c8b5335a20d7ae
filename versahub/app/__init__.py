"""The site on this machine: the hub's settings for a site (``hubconfig``), the processes of
``versahub up`` (``processes``) and ``up``/``down``/``status`` (``up``).

The top of the product below the command line: it assembles the hub (``versahub.hub``),
the launch page (``versahub.web``), OPA (``versahub.policy``) and the registry.
"""
