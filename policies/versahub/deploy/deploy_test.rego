package versahub.deploy_test

import data.versahub.deploy

ns := "versahub"

limits := {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}

container(name, image) := {"name": name, "image": image, "resources": limits}

deployment(name, component, containers) := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {
		"name": name, "namespace": ns,
		"labels": {"app.kubernetes.io/name": "versahub", "app.kubernetes.io/component": component},
	},
	"spec": {"template": {"spec": {"containers": containers}}},
}

default_deny := {
	"apiVersion": "networking.k8s.io/v1",
	"kind": "NetworkPolicy",
	"metadata": {"name": "default-deny", "namespace": ns},
	"spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}

namespace := {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}

builder := object.union(container("builder", "docker:27.5.1-dind"), {"securityContext": {"privileged": true}})

hub := deployment("hub", "hub", [container("hub", "versahub/hub:0.1.0"), builder])

site := [namespace, default_deny, hub]

decide(objects) := d if {
	d := deploy.decision with input as {"objects": objects}
}

ids(objects) := {f.id | some f in decide(objects).deny}

messages(objects, id) := {f.message | some f in decide(objects).deny; f.id == id}

test_the_site_with_its_builder_is_allowed if {
	decide(site) == {"allowed": true, "deny": []}
}

test_a_privileged_container_is_refused_naming_object_and_field if {
	bad := object.union(container("app", "nginx:1.27"), {"securityContext": {"privileged": true}})
	messages([namespace, default_deny, deployment("web", "web", [bad])], "deploy-privileged") == {concat("", [
		"Deployment versahub/web: spec.template.spec.containers[0] (app) has securityContext.privileged: true; ",
		"only the documented image builder (container builder of Deployment hub, image docker:<version>-dind) ",
		"may be privileged.",
	])}
	not decide([namespace, default_deny, deployment("web", "web", [bad])]).allowed
}

test_the_builder_exception_is_narrow if {
	# the right container name in another Deployment
	"deploy-privileged" in ids([namespace, default_deny, deployment("other", "hub", [builder])])

	# another component label on a Deployment named hub
	"deploy-privileged" in ids([namespace, default_deny, deployment("hub", "web", [builder])])

	# another image in the builder's place
	shell := object.union(builder, {"image": "ubuntu:24.04"})
	"deploy-privileged" in ids([namespace, default_deny, deployment("hub", "hub", [shell])])

	# a builder under another name
	other := object.union(builder, {"name": "sidecar"})
	"deploy-privileged" in ids([namespace, default_deny, deployment("hub", "hub", [other])])
}

test_containers_without_limits_are_refused_per_resource if {
	no_limits := {"name": "app", "image": "nginx:1.27", "resources": {"requests": {"cpu": "1"}}}
	messages([namespace, default_deny, deployment("web", "web", [no_limits])], "deploy-limits") == {
		"Deployment versahub/web: spec.template.spec.containers[0] (app) has no resources.limits.cpu.",
		"Deployment versahub/web: spec.template.spec.containers[0] (app) has no resources.limits.memory.",
	}
	cpu_only := {"name": "app", "image": "nginx:1.27", "resources": {"limits": {"cpu": "1"}}}
	messages([namespace, default_deny, deployment("web", "web", [cpu_only])], "deploy-limits") == {"Deployment versahub/web: spec.template.spec.containers[0] (app) has no resources.limits.memory."}
}

test_init_and_ephemeral_containers_are_checked if {
	pod := {
		"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns},
		"spec": {
			"initContainers": [{"name": "init", "image": "busybox:1.37"}],
			"containers": [container("app", "nginx:1.27")],
			"ephemeralContainers": [object.union(container("debug", "busybox:1.37"), {"securityContext": {"privileged": true}})],
		},
	}
	messages([namespace, default_deny, pod], "deploy-limits") == {
		"Pod versahub/p: spec.initContainers[0] (init) has no resources.limits.cpu.",
		"Pod versahub/p: spec.initContainers[0] (init) has no resources.limits.memory.",
	}
	"deploy-privileged" in ids([namespace, default_deny, pod])
}

web_with(image) := deployment("web", "web", [container("app", image)])

test_images_must_be_pinned if {
	messages([namespace, default_deny, web_with("nginx")], "deploy-image-tag") == {"Deployment versahub/web: spec.template.spec.containers[0] (app) image \"nginx\" is not pinned to a version tag (none, or latest)."}
	"deploy-image-tag" in ids([namespace, default_deny, web_with("nginx:latest")])
	"deploy-image-tag" in ids([namespace, default_deny, web_with("registry:5000/team/app")])
	"deploy-image-tag" in ids([namespace, default_deny, web_with("nginx:")])
	not "deploy-image-tag" in ids([namespace, default_deny, web_with("registry:5000/team/app:1.0")])
	not "deploy-image-tag" in ids([namespace, default_deny, web_with("nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")])
}

test_a_container_without_image_is_unpinned if {
	"deploy-image-tag" in ids([namespace, default_deny, deployment("web", "web", [{"name": "x", "resources": limits}])])
}

test_a_namespace_needs_a_default_deny_policy if {
	messages([namespace, hub], "deploy-default-deny") == {"Namespace versahub has no default-deny NetworkPolicy (spec.podSelector {}, spec.policyTypes [Ingress, Egress], no rules)."}

	# a namespace named only by its objects counts too
	"deploy-default-deny" in ids([hub])
}

test_a_policy_that_allows_something_is_not_default_deny if {
	allow_all := object.union(default_deny, {"spec": {"ingress": [{}]}})
	"deploy-default-deny" in ids([namespace, allow_all, hub])
	egress_only := object.union(default_deny, {"spec": {"policyTypes": ["Egress"]}})
	"deploy-default-deny" in ids([namespace, egress_only, hub])
	selective := object.union(default_deny, {"spec": {"podSelector": {"matchLabels": {"a": "b"}}}})
	"deploy-default-deny" in ids([namespace, selective, hub])
	expr := {"matchExpressions": [{"key": "a", "operator": "Exists"}]}
	by_expression := object.union(default_deny, {"spec": {"podSelector": expr}})
	"deploy-default-deny" in ids([namespace, by_expression, hub])
	elsewhere := object.union(default_deny, {"metadata": {"namespace": "other"}})
	"deploy-default-deny" in ids([namespace, elsewhere, hub])
}

test_pods_may_not_mount_host_folders if {
	with_socket := object.union(hub, {"spec": {"template": {"spec": {"volumes": [
		{"name": "tmp", "emptyDir": {}},
		{"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}},
	]}}}})
	messages([namespace, default_deny, with_socket], "deploy-host-path") == {"Deployment versahub/hub: spec.template.spec.volumes[1] (docker) mounts the host folder /var/run/docker.sock."}
}

test_cronjobs_are_checked if {
	cron := {
		"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c", "namespace": ns},
		"spec": {"jobTemplate": {"spec": {"template": {"spec": {
			"containers": [container("job", "busybox:latest")],
			"volumes": [{"name": "root", "hostPath": {"path": "/"}}],
		}}}}},
	}
	ids([namespace, default_deny, cron]) == {"deploy-image-tag", "deploy-host-path"}
}

pv(labels) := {
	"apiVersion": "v1", "kind": "PersistentVolume",
	"metadata": {"name": "versahub-volumes", "labels": labels},
	"spec": {"hostPath": {"path": "/srv/versahub/volumes"}},
}

test_only_the_local_storage_volumes_name_host_folders if {
	storage := {"app.kubernetes.io/name": "versahub", "app.kubernetes.io/component": "storage"}
	decide([namespace, default_deny, pv(storage)]).allowed
	messages([namespace, default_deny, pv({})], "deploy-host-path-volume") == {concat("", [
		"PersistentVolume versahub-volumes: spec.hostPath /srv/versahub/volumes is allowed only for the ",
		"local storage volumes (labels app.kubernetes.io/name versahub, app.kubernetes.io/component storage).",
	])}
	"deploy-host-path-volume" in ids([namespace, default_deny, pv({"app.kubernetes.io/component": "storage"})])
}

test_objects_without_pods_pass if {
	cm := {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}, "data": {}}
	decide([namespace, default_deny, cm]).allowed
}
