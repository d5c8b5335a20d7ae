# METADATA
# title: VersaHub deploy-time policies
# description: >-
#   Rules every Kubernetes manifest of a VersaHub site must pass before it
#   reaches a cluster: the Pulumi program (pulumi/) evaluates
#   data.versahub.deploy.decision over all rendered manifests
#   (input.objects) before it creates anything, and refuses the update when
#   deny is not empty. Each message names the object and the field.
package versahub.deploy

import data.versahub.lib

# The one documented exception to "no privileged containers" (docs/deploy-kubernetes.md):
# the image builder, a docker:<version>-dind engine beside the hub, in the hub's Deployment.
builder := {"kind": "Deployment", "name": "hub", "component": "hub", "container": "builder"}

_workloads := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}

_container_lists := ["initContainers", "containers", "ephemeralContainers"]

# METADATA
# title: Deploy decision
# description: >-
#   Allowed when no rule denies; deny sorted by id, then message.
# entrypoint: true
decision := {
	"allowed": count(deny) == 0,
	"deny": lib.sorted_findings(deny),
}

# --- where the pods are ----------------------------------------------------------------------

_pod(obj) := ["spec", obj.spec] if obj.kind == "Pod"

_pod(obj) := ["spec.template.spec", obj.spec.template.spec] if obj.kind in _workloads

_pod(obj) := ["spec.jobTemplate.spec.template.spec", obj.spec.jobTemplate.spec.template.spec] if {
	obj.kind == "CronJob"
}

# [object, "path.to.containers[i]", container] for every container of every pod template
_containers contains [obj, field, c] if {
	some obj in input.objects
	[path, spec] := _pod(obj)
	some list in _container_lists
	some i, c in spec[list]
	field := sprintf("%s.%s[%d] (%s)", [path, list, i, c.name])
}

_name(obj) := sprintf("%s %s/%s", [obj.kind, obj.metadata.namespace, obj.metadata.name]) if {
	obj.metadata.namespace
} else := sprintf("%s %s", [obj.kind, obj.metadata.name])

_is_builder(obj, c) if {
	obj.kind == builder.kind
	obj.metadata.name == builder.name
	obj.metadata.labels["app.kubernetes.io/component"] == builder.component
	c.name == builder.container
	regex.match(`^docker:[0-9][0-9.]*-dind$`, c.image)
}

# METADATA
# title: Privileged container
# description: >-
#   A privileged container is root on its node: it can read every other pod's
#   files and secrets. Only the documented image builder may run privileged.
# custom:
#   id: deploy-privileged
#   severity: critical
#   message: "%s: %s has securityContext.privileged: true; only the documented image builder (container builder of Deployment hub, image docker:<version>-dind) may be privileged."
#   mitigation: "Remove securityContext.privileged, or build images outside the cluster."
deny contains lib.finding(rego.metadata.rule(), [_name(obj), field]) if {
	some [obj, field, c] in _containers
	c.securityContext.privileged == true
	not _is_builder(obj, c)
}

# METADATA
# title: Container without limits
# description: >-
#   A container without a CPU and a memory limit can starve every other pod
#   on its node, user servers included.
# custom:
#   id: deploy-limits
#   severity: high
#   message: "%s: %s has no resources.limits.%s."
#   mitigation: "Set resources.requests and resources.limits (cpu and memory) on every container."
deny contains lib.finding(rego.metadata.rule(), [_name(obj), field, resource]) if {
	some [obj, field, c] in _containers
	some resource in ["cpu", "memory"]
	not c.resources.limits[resource]
}

_tag(image) := tag if {
	not contains(image, "@")
	last := regex.split(`/`, image)[count(regex.split(`/`, image)) - 1]
	parts := split(last, ":")
	count(parts) == 2
	tag := parts[1]
}

_pinned(image) if contains(image, "@sha256:")

_pinned(image) if {
	tag := _tag(image)
	tag != "latest"
	tag != ""
}

# METADATA
# title: Image not pinned
# description: >-
#   An image without a version tag (or tagged latest) changes under a running
#   site: what was reviewed is not what runs, and two nodes may run two
#   different images.
# custom:
#   id: deploy-image-tag
#   severity: high
#   message: "%s: %s image %q is not pinned to a version tag (none, or latest)."
#   mitigation: "Name a version tag (name:1.2.3) or a digest (name@sha256:…)."
deny contains lib.finding(rego.metadata.rule(), [_name(obj), field, image]) if {
	some [obj, field, c] in _containers
	image := object.get(c, "image", "")
	not _pinned(image)
}

_namespaces contains obj.metadata.name if {
	some obj in input.objects
	obj.kind == "Namespace"
}

_namespaces contains obj.metadata.namespace if {
	some obj in input.objects
	obj.metadata.namespace
}

_default_deny(ns) if {
	some obj in input.objects
	obj.kind == "NetworkPolicy"
	obj.metadata.namespace == ns
	object.get(obj.spec.podSelector, "matchLabels", {}) == {}
	not obj.spec.podSelector.matchExpressions
	{"Ingress", "Egress"} == {t | some t in obj.spec.policyTypes}
	count(object.get(obj.spec, "ingress", [])) == 0
	count(object.get(obj.spec, "egress", [])) == 0
}

# METADATA
# title: Namespace without default-deny
# description: >-
#   NetworkPolicies only allow; without one that first denies everything, any
#   pod (a user server) can reach OPA, the registry, the proxy's API and every
#   other server.
# custom:
#   id: deploy-default-deny
#   severity: high
#   message: "Namespace %s has no default-deny NetworkPolicy (spec.podSelector {}, spec.policyTypes [Ingress, Egress], no rules)."
#   mitigation: "Render the NetworkPolicies component (pulumi/) into every namespace the site uses."
deny contains lib.finding(rego.metadata.rule(), [ns]) if {
	some ns in _namespaces
	not _default_deny(ns)
}

# METADATA
# title: Host folder in a pod
# description: >-
#   A pod that mounts a host folder can read or change the node's files (the
#   container runtime's socket, other pods' data). Pods use claims; only the
#   local storage PersistentVolumes may name a host folder.
# custom:
#   id: deploy-host-path
#   severity: critical
#   message: "%s: %s.volumes[%d] (%s) mounts the host folder %s."
#   mitigation: "Use a PersistentVolumeClaim; on a local cluster the Storage component makes host-folder volumes."
deny contains lib.finding(rego.metadata.rule(), [_name(obj), path, i, v.name, v.hostPath.path]) if {
	some obj in input.objects
	[path, spec] := _pod(obj)
	some i, v in spec.volumes
	v.hostPath
}

_local_storage(obj) if {
	obj.metadata.labels["app.kubernetes.io/name"] == "versahub"
	obj.metadata.labels["app.kubernetes.io/component"] == "storage"
}

# METADATA
# title: Host folder volume
# description: >-
#   A PersistentVolume on a host folder is allowed only as the local storage
#   of a single-node site (the Storage component, labelled
#   app.kubernetes.io/component storage).
# custom:
#   id: deploy-host-path-volume
#   severity: high
#   message: "%s: spec.hostPath %s is allowed only for the local storage volumes (labels app.kubernetes.io/name versahub, app.kubernetes.io/component storage)."
#   mitigation: "Use a storage class, or the Storage component's local volumes."
deny contains lib.finding(rego.metadata.rule(), [_name(obj), obj.spec.hostPath.path]) if {
	some obj in input.objects
	obj.kind == "PersistentVolume"
	obj.spec.hostPath
	not _local_storage(obj)
}
