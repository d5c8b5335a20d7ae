package versahub.spawn_test

limits(patch) := with_spec({"limits": object.union(base_input.spec.limits, patch)})

test_memory_over_default_cap_is_denied if {
	deny_messages(limits({"memory_bytes": 6 * gib}), "resources-over-cap") == {
		"You asked for 6 GiB of memory, but your limit is 4 GiB of memory.",
	}
}

test_every_resource_is_capped if {
	doc := limits({"memory_bytes": 5 * gib, "cpu": 3, "max_duration_seconds": 172800, "idle_timeout_seconds": 18000})
	deny_messages(doc, "resources-over-cap") == {
		"You asked for 5 GiB of memory, but your limit is 4 GiB of memory.",
		"You asked for 3 CPUs, but your limit is 2 CPUs.",
		"You asked for a maximum run time of 2 days, but your limit is a maximum run time of 1 day.",
		"You asked for an idle timeout of 5 hours, but your limit is an idle timeout of 4 hours.",
	}
}

test_requests_within_cap_are_allowed if {
	doc := limits({"memory_bytes": 4 * gib, "cpu": 2, "max_duration_seconds": 86400, "idle_timeout_seconds": 3600})
	not "resources-over-cap" in deny_ids(doc)
	decide(doc).allowed
}

test_null_resources_are_not_checked if {
	not "resources-over-cap" in deny_ids(base_input)
	not "resources-large" in warn_ids(base_input)
}

test_group_cap_replaces_default if {
	doc := as_user(limits({"memory_bytes": 12 * gib, "cpu": 6}), {"groups": ["staff"]})
	not "resources-over-cap" in deny_ids(doc)
}

test_most_generous_group_cap_applies_per_resource if {
	# gpu-lab raises memory to 32 GiB, staff keeps cpu at 8: both apply.
	user := object.union(base_input.user, {"groups": ["staff", "gpu-lab"]})
	doc := object.union(limits({"memory_bytes": 24 * gib, "cpu": 8}), {"user": user})
	not "resources-over-cap" in deny_ids(doc)
	over := object.union(limits({"memory_bytes": 40 * gib}), {"user": user})
	deny_messages(over, "resources-over-cap") == {"You asked for 40 GiB of memory, but your limit is 32 GiB of memory."}
}

test_group_without_a_cap_for_a_resource_falls_back_to_default if {
	user := object.union(base_input.user, {"groups": ["gpu-lab"]})
	doc := object.union(limits({"cpu": 3}), {"user": user})
	deny_messages(doc, "resources-over-cap") == {"You asked for 3 CPUs, but your limit is 2 CPUs."}
}

test_no_caps_in_site_data_caps_nothing if {
	doc := limits({"memory_bytes": 1000 * gib})
	ids := {f.id | some f in decide_on(doc, {}).deny}
	not "resources-over-cap" in ids
}

test_large_request_warns if {
	doc := as_user(limits({"memory_bytes": 12 * gib, "cpu": 6}), {"groups": ["staff"]})
	warn_messages(doc, "resources-large") == {
		"You asked for 12 GiB of memory, which is more than most work needs and holds back resources others could use.",
		"You asked for 6 CPUs, which is more than most work needs and holds back resources others could use.",
	}
}

test_large_request_over_cap_is_only_denied if {
	doc := limits({"memory_bytes": 12 * gib})
	"resources-over-cap" in deny_ids(doc)
	not "resources-large" in warn_ids(doc)
}

test_request_below_large_threshold_does_not_warn if {
	doc := as_user(limits({"memory_bytes": 8 * gib, "cpu": 4}), {"groups": ["staff"]})
	not "resources-large" in warn_ids(doc)
}

test_odd_sizes_are_readable if {
	msgs := deny_messages(limits({"memory_bytes": 4831838208, "max_duration_seconds": 90061}), "resources-over-cap")
	msgs == {
		"You asked for 4.5 GiB of memory, but your limit is 4 GiB of memory.",
		"You asked for a maximum run time of 90061 seconds, but your limit is a maximum run time of 1 day.",
	}
}
