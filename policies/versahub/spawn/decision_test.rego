package versahub.spawn_test

finding_keys := {"id", "severity", "title", "message", "mitigation"}

risky := object.union(
	with_repo("http://10.0.0.1/x", "http", "10.0.0.1"),
	{
		"spec": {
			"internet": true, "credentials": true, "public_readonly": true,
			"collaborators": ["zed", "bob", "group:nope"],
			"mounts": [mount("home", "rw"), mount("archive", "rw"), mount("nowhere", "ro")],
		},
		"origin": {"external": true, "referrer": "https://evil.example/"},
	},
)

test_decision_denies_and_lists_every_finding if {
	d := decide(risky)
	d.allowed == false
	count(d.deny) > 0
	count(d.warn) > 0
	every f in array.concat(d.deny, d.warn) {
		object.keys(f) == finding_keys
		f.severity in {"low", "medium", "high", "critical"}
	}
}

test_findings_are_sorted_by_id_then_message if {
	d := decide(risky)
	every list in [d.deny, d.warn] {
		keys := [[f.id, f.message] | some f in list]
		keys == sort(keys)
	}
}

test_warnings_alone_do_not_deny if {
	d := decide(with_spec({"internet": true}))
	d.allowed == true
	[f.id | some f in d.warn] == ["internet-egress"]
}

test_decision_is_stable if {
	decide(risky) == decide(risky)
}

test_site_data_that_is_not_an_object_trusts_nothing if {
	d := decide_on(with_spec({"credentials": true, "mounts": [mount("home", "ro")]}), "not an object")
	d.allowed == false
	{f.id | some f in d.deny} == {"credentials-untrusted-forge", "volume-unknown"}
	"image-untrusted-repo" in {f.id | some f in d.warn}
}
