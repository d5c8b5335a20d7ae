"""``versahub deploy``: the whole site on your own hosts, with the project's Ansible playbooks.

``cli`` (the click command wrapping ``ansible-playbook``), ``inventory`` (reads an inventory
with ``ansible-inventory`` and checks its ``versahub_site`` before anything runs),
``summary`` (pure: the recap the progress callback writes → the lines shown at the end),
``wheel`` (a reproducible wheel of the repository, built on the controller for the hub role),
``callback_plugins/versahub_progress.py`` (one line per task and host while Ansible runs).

It never changes a host by itself: every change is a task of ``playbooks/``.

The Kubernetes deployment (the Pulumi program in ``pulumi/``, docs/deploy-kubernetes.md)
uses the pure builders here: ``kubernetes`` (shared helpers, the hub, builder, storage),
``kubernetes_services`` (proxy, OPA, registry), ``kubernetes_network`` (NetworkPolicies),
``kubernetes_site`` (the in-cluster site document), ``kubernetes_settings`` (the stack's
config, checked against ``Pulumi.yaml``) and ``kubernetes_policy`` (the manifests through the
deploy policies with OPA). None of them imports Pulumi or touches a cluster.
"""
