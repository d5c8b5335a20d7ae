package versahub.spawn_test

quota_site := object.union(site, {"quotas": {
	"ds101": {"cpu_hours": 10, "server_hours": 100, "action": "warn"},
	"staff": {"cpu_hours": 5, "action": "deny"},
}})

with_usage(doc, groups, usage) := object.union(doc, {
	"user": object.union(doc.user, {"groups": groups}),
	"usage": {"groups": usage},
})

test_under_quota_says_nothing if {
	doc := with_usage(base_input, ["ds101"], {"ds101": {"cpu_hours": 9.5, "server_hours": 3}})
	d := decide_on(doc, quota_site)
	d == {"allowed": true, "deny": [], "warn": []}
}

test_over_a_warn_quota_warns if {
	doc := with_usage(base_input, ["ds101"], {"ds101": {"cpu_hours": 10, "server_hours": 3}})
	d := decide_on(doc, quota_site)
	d.allowed
	[f.message | some f in d.warn; f.id == "quota-exceeded"] == [
		"Your group \"ds101\" has used its monthly quota of cpu_hours; this server adds to it.",
	]
}

test_over_a_deny_quota_denies if {
	doc := with_usage(base_input, ["staff"], {"staff": {"cpu_hours": 6}})
	d := decide_on(doc, quota_site)
	not d.allowed
	"quota-exhausted" in {f.id | some f in d.deny}
}

test_no_usage_in_the_input_is_no_usage if {
	doc := object.union(base_input, {"user": object.union(base_input.user, {"groups": ["staff"]})})
	decide_on(doc, quota_site).allowed
}

test_a_malformed_quota_or_usage_is_ignored if {
	bad_site := object.union(site, {"quotas": {"staff": "lots"}})
	doc := with_usage(base_input, ["staff"], {"staff": {"cpu_hours": "many"}})
	decide_on(doc, bad_site).allowed
	decide_on(doc, quota_site).allowed
}
