"""``versahub deploy``: the whole site on your own hosts, with the project's Ansible playbooks.

``cli`` (the click command wrapping ``ansible-playbook``), ``inventory`` (reads an inventory
with ``ansible-inventory`` and checks its ``versahub_site`` before anything runs),
``summary`` (pure: the recap the progress callback writes → the lines shown at the end),
``wheel`` (a reproducible wheel of the repository, built on the controller for the hub role),
``callback_plugins/versahub_progress.py`` (one line per task and host while Ansible runs).

It never changes a host by itself: every change is a task of ``playbooks/``.
"""
