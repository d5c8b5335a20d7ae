"""The one launch path: request → ServerSpec → policy input → OPA → confirmation → image → plan.

Every entry point calls it: the spawner (``versahub.hub.spawner``) before every start, the
launch and check APIs, the trust API and public copies (``versahub.hub.handlers``,
``versahub.web.handlers``) and the culler (limits from the stored request). ``request``
(pure: options → :class:`LaunchRequest`), ``directory`` (which collaborators exist),
``service`` (:class:`LaunchService`: the decision, the image, the plan), ``plan`` (pure:
spec + decision → :class:`RuntimePlan`, rendered by a backend), ``progress`` (the events of
each launch). Backends (DockerSpawner today, KubeSpawner next) only render the plan.
"""
