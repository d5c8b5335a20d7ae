package versahub.spawn_test

import data.versahub.spawn

test_complete_package_is_not_incomplete if {
	d := decide(with_spec({"internet": false}))
	every f in d.deny {
		f.id != "policy-incomplete"
	}
}

test_missing_end_marker_denies if {
	d := spawn.decision with input as base_input
		with data.versahub.site as site
		with spawn.concerns as {
			"collaborators", "course", "credentials", "image", "input", "network",
			"origin", "public", "quota", "repo", "resources", "site", "decision",
		}
	d.allowed == false
	[f.id | some f in d.deny] == ["policy-incomplete"]
	contains(d.deny[0].message, "\"storage\"")
}
