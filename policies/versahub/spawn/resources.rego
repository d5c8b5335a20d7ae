package versahub.spawn

import data.versahub.lib

_resource_keys := ["memory_bytes", "cpu", "max_duration_seconds", "idle_timeout_seconds"]

_describe("memory_bytes", n) := sprintf("%s of memory", [lib.format_bytes(n)])

_describe("cpu", n) := sprintf("%v CPUs", [n])

_describe("max_duration_seconds", n) := sprintf("a maximum run time of %s", [lib.format_duration(n)])

_describe("idle_timeout_seconds", n) := sprintf("an idle timeout of %s", [lib.format_duration(n)])

_requested[key] := value if {
	some key in _resource_keys
	value := input.spec.limits[key]
	is_number(value)
}

_group_caps(key) := {value |
	some group in user_groups
	value := caps_groups[group][key]
	is_number(value)
}

# METADATA
# title: Effective caps
# description: >-
#   Per resource, the most generous cap among the user's groups that set one,
#   else caps.default; a resource with neither is not capped.
effective_caps[key] := max(_group_caps(key)) if {
	some key in _resource_keys
	count(_group_caps(key)) > 0
}

effective_caps[key] := caps_default[key] if {
	some key in _resource_keys
	count(_group_caps(key)) == 0
	is_number(caps_default[key])
}

# METADATA
# title: Resources above your limit
# description: >-
#   Each user may ask for at most the caps of their most generous group (or
#   the site default), so that one server cannot starve the others. Resources
#   left unset take the site's default and are not checked.
# custom:
#   id: resources-over-cap
#   severity: medium
#   message: "You asked for %s, but your limit is %s."
#   mitigation: "Lower the request to your limit, or ask the hub administrators for a larger quota."
deny contains lib.finding(rego.metadata.rule(), [_describe(key, value), _describe(key, cap)]) if {
	some key, value in _requested
	cap := effective_caps[key]
	value > cap
}

# METADATA
# title: Large resource request
# description: >-
#   Allowed, but resources held by an idle or runaway server are lost to
#   everyone else; the user confirms that the work needs them.
# custom:
#   id: resources-large
#   severity: low
#   message: >-
#     You asked for %s, which is more than most work needs and holds back resources others
#     could use.
#   mitigation: "Ask only for what the notebooks need, and stop the server when you are done."
warn contains lib.finding(rego.metadata.rule(), [_describe(key, value)]) if {
	some key, value in _requested
	threshold := large_request[key]
	is_number(threshold)
	value > threshold
	not _over_cap(key, value)
}

_over_cap(key, value) if value > effective_caps[key]

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "resources"
