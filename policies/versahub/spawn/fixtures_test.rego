# METADATA
# title: VersaHub spawn policy tests
# description: Shared fixtures (site data, a clean input) and helpers for the spawn tests.
package versahub.spawn_test

import data.versahub.spawn

gib := 1073741824

# The site data document of docs/architecture.md.
site := {
	"trusted_repos": ["https://github.com/binder-examples/*"],
	"trusted_forges": ["github.com", "gitlab.com"],
	"allowed_forges": ["*"],
	"allowed_internal_hosts": [],
	"caps": {
		"default": {
			"memory_bytes": 4 * gib, "cpu": 2,
			"max_duration_seconds": 86400, "idle_timeout_seconds": 14400,
		},
		"groups": {
			"staff": {
				"memory_bytes": 16 * gib, "cpu": 8,
				"max_duration_seconds": 604800, "idle_timeout_seconds": 86400,
			},
			"gpu-lab": {"memory_bytes": 32 * gib},
		},
	},
	"large_request": {"memory_bytes": 8 * gib, "cpu": 4},
	"volumes": {
		"home": {
			"kind": "home",
			"read": {"users": ["*"], "groups": []},
			"write": {"users": ["*"], "groups": []},
		},
		"ds101-shared": {
			"kind": "shared",
			"read": {"users": [], "groups": ["ds101"]},
			"write": {"users": [], "groups": ["ds101-teachers"]},
		},
		"archive": {
			"kind": "shared",
			"read": {"users": ["carol"], "groups": []},
			"write": {"users": [], "groups": []},
		},
	},
	"share": {"groups": "member"},
}

# A launch that no rule objects to: trusted repo, no internet, nothing shared.
base_input := {
	"spec": {
		"repo": "https://github.com/binder-examples/requirements",
		"ref": "HEAD",
		"urlpath": "",
		"server_name": "analysis",
		"provider": "gh",
		"source": {"scheme": "https", "host": "github.com", "port": null},
		"spec_id": "0123456789abcdef",
		"mounts": [],
		"collaborators": [],
		"public_readonly": false,
		"credentials": false,
		"internet": false,
		"resources": {"memory": null, "cpu": null, "max_duration": null, "idle_timeout": null},
		"limits": {
			"memory_bytes": null, "cpu": null,
			"max_duration_seconds": null, "idle_timeout_seconds": null,
		},
	},
	"user": {"name": "alice", "groups": ["ds101"], "admin": false},
	"origin": {"external": false, "referrer": null},
	"directory": {"users": ["alice", "bob"], "groups": ["ds101", "ds101-teachers", "staff"]},
	"site": {"name": "Test hub", "hub_url": "https://hub.example.org/"},
}

# The base input with some spec keys replaced.
with_spec(patch) := object.union(base_input, {"spec": object.union(base_input.spec, patch)})

# A document with some user keys replaced.
as_user(doc, patch) := object.union(doc, {"user": object.union(base_input.user, patch)})

# A repository URL and its parsed source.
with_repo(url, scheme, host) := with_spec({"repo": url, "source": {"scheme": scheme, "host": host, "port": null}})

decide(doc) := result if {
	result := spawn.decision with input as doc with data.versahub.site as site
}

decide_on(doc, site_data) := result if {
	result := spawn.decision with input as doc with data.versahub.site as site_data
}

deny_ids(doc) := {f.id | some f in decide(doc).deny}

warn_ids(doc) := {f.id | some f in decide(doc).warn}

deny_messages(doc, id) := {f.message | some f in decide(doc).deny; f.id == id}

warn_messages(doc, id) := {f.message | some f in decide(doc).warn; f.id == id}

test_base_input_is_allowed_without_findings if {
	decide(base_input) == {"allowed": true, "deny": [], "warn": []}
}
