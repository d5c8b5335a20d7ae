package versahub.spawn_test

import data.versahub.spawn

invalid_messages(d) := {f.message | some f in d.deny; f.id == "input-invalid"}

problem(text) := sprintf(
	"The hub sent the policy engine an incomplete request (%s), so this server cannot be checked and will not start.",
	[text],
)

test_missing_input_is_denied if {
	d := spawn.decision with data.versahub.site as site
	d.allowed == false
	invalid_messages(d) == {problem("the input is not a JSON object")}
	d.warn == []
}

test_non_object_inputs_are_denied if {
	every doc in ["text", 42, null, [], true] {
		invalid_messages(decide(doc)) == {problem("the input is not a JSON object")}
	}
}

test_empty_input_names_the_missing_top_level_keys if {
	invalid_messages(decide({})) == {
		problem("spec is missing or is not an object"),
		problem("user is missing or is not an object"),
		problem("origin is missing or is not an object"),
	}
}

test_each_required_key_is_checked if {
	every path in [
		["spec", "repo"], ["spec", "source", "host"], ["spec", "source", "scheme"], ["spec", "mounts"],
		["spec", "collaborators"], ["spec", "internet"], ["spec", "credentials"], ["spec", "public_readonly"],
		["spec", "limits"], ["user", "name"], ["user", "groups"], ["user", "admin"], ["origin", "external"],
	] {
		d := decide(json.remove(base_input, [concat("/", path)]))
		d.allowed == false
		count(invalid_messages(d)) == 1
	}
}

test_wrong_types_are_denied if {
	doc := object.union(base_input, {
		"spec": {"internet": "yes", "limits": {"cpu": "2"}, "mounts": [{"volume": "home"}], "collaborators": [7]},
		"user": {"groups": ["ds101", 3]},
		"origin": {"referrer": 5},
		"directory": {"users": "alice"},
	})
	invalid_messages(decide(doc)) == {
		problem("spec.internet is missing or is not a boolean"),
		problem("spec.limits.cpu is not a number or null"),
		problem("spec.mounts[0] is not a mount {volume, path, mode: ro|rw}"),
		problem("spec.collaborators[0] is not a string"),
		problem("user.groups[1] is not a string"),
		problem("origin.referrer is not a string or null"),
		problem("directory.users is not an array"),
	}
}

test_only_outermost_missing_key_is_reported if {
	doc := object.union(base_input, {"spec": {"source": "github.com"}})
	invalid_messages(decide(doc)) == {problem("spec.source is missing or is not an object")}
}

test_bad_mount_mode_is_denied if {
	doc := with_spec({"mounts": [{"volume": "home", "path": "/x", "mode": "write"}]})
	invalid_messages(decide(doc)) == {problem("spec.mounts[0] is not a mount {volume, path, mode: ro|rw}")}
}

test_invalid_input_reports_only_input_findings if {
	doc := object.union(with_spec({"internet": true, "collaborators": ["nobody"]}), {"user": {"admin": "no"}})
	d := decide(doc)
	{f.id | some f in d.deny} == {"input-invalid"}
	d.warn == []
}

test_valid_input_has_no_problems if {
	count(spawn.input_problems) == 0 with input as base_input
}

test_repo_that_is_not_its_source_is_invalid if {
	every repo in ["ext::sh -c touch% /tmp/pwned", "file:///etc/passwd", "ssh://git@github.com/a/b", "https://evil.example/a/b"] {
		doc := with_spec({"repo": repo})
		problem("spec.repo does not match spec.source") in invalid_messages(decide(doc))
	}
}

test_a_doi_repo_matches_its_source if {
	doc := with_spec({"repo": "10.5281/zenodo.3242074", "source": {"scheme": "https", "host": "zenodo.org", "port": null}})
	not problem("spec.repo does not match spec.source") in invalid_messages(decide(doc))
}

test_negative_limits_are_invalid if {
	doc := with_spec({"limits": {"memory_bytes": -1, "cpu": -5, "max_duration_seconds": null, "idle_timeout_seconds": null}})
	invalid_messages(decide(doc)) == {problem("spec.limits.memory_bytes is negative"), problem("spec.limits.cpu is negative")}
}

test_an_ipv6_repo_matches_its_bracketed_source if {
	doc := with_repo("https://[2001:db8::1]/a/b", "https", "2001:db8::1")
	not problem("spec.repo does not match spec.source") in invalid_messages(decide(doc))
}

test_a_look_alike_host_does_not_match_the_source if {
	doc := with_repo("https://github.com.evil.example/a/b", "https", "github.com")
	problem("spec.repo does not match spec.source") in invalid_messages(decide(doc))
}

test_a_repo_that_is_just_its_authority_matches if {
	doc := with_repo("https://github.com", "https", "github.com")
	not problem("spec.repo does not match spec.source") in invalid_messages(decide(doc))
}

test_userinfo_after_the_host_does_not_match_the_source if {
	every repo in ["https://github.com@evil.example/a/b", "https://github.com:443@evil.example/a/b"] {
		doc := with_repo(repo, "https", "github.com")
		problem("spec.repo does not match spec.source") in invalid_messages(decide(doc))
	}
}
