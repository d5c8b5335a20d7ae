# METADATA
# title: VersaHub policy helpers
# description: >-
#   Builds findings from a rule's METADATA annotations and formats the numbers
#   that appear in their messages. Pure functions only: nothing here reads
#   input or data, so site values never leak into rule bodies.
package versahub.lib

_kib := 1024

_mib := 1048576

_gib := 1073741824

_tib := 1099511627776

# METADATA
# title: Finding from metadata
# description: >-
#   Returns the Finding {id, severity, title, message, mitigation} of the rule
#   whose annotations are given (rego.metadata.rule()); custom.message is a
#   sprintf template filled with params. Incomplete metadata still yields an
#   object (with null values), which sorted_findings reports instead of letting
#   the rule silently produce nothing.
finding(annotations, params) := {
	"id": object.get(_custom(annotations), "id", null),
	"severity": object.get(_custom(annotations), "severity", null),
	"title": object.get(annotations, "title", null),
	"message": _message(object.get(_custom(annotations), "message", null), params),
	"mitigation": object.get(_custom(annotations), "mitigation", null),
}

_custom(annotations) := object.get(annotations, "custom", {})

_message(template, params) := sprintf(template, params) if is_string(template)

else := null

# METADATA
# title: Sorted findings
# description: >-
#   A set of findings as an array sorted by id, then message, so decisions are
#   stable. An entry that is not a complete Finding (a site rule that returns
#   a bare string, say) is replaced by a policy-malformed-finding finding rather
#   than dropped, so the user still sees why the launch was refused.
sorted_findings(findings) := [f |
	some t in sort([[g.id, g.message, g] | some f in findings; g := well_formed(f)])
	f := t[2]
]

_finding_keys := {"id", "severity", "title", "message", "mitigation"}

# METADATA
# title: Well-formed finding
# description: The finding itself when it has every Finding key, else a finding that reports it.
well_formed(f) := f if {
	is_object(f)
	every key in _finding_keys {
		is_string(f[key])
	}
	f.severity in {"low", "medium", "high", "critical"}
} else := {
	"id": "policy-malformed-finding",
	"severity": "high",
	"title": "Malformed policy rule",
	"message": sprintf("A policy rule of this hub returned %v instead of a finding.", [f]),
	"mitigation": "Tell the hub administrators; they must fix the rule before this server can be judged.",
}

# METADATA
# title: Quoted list
# description: Joins values as "a", "b", "c" for a message.
quoted_list(values) := concat(", ", [sprintf("%q", [v]) | some v in sort(values)])

# METADATA
# title: Human-readable size
# description: Formats a number of bytes with a binary unit and at most two decimals.
format_bytes(n) := _scaled(n, _tib, "TiB") if {
	n >= _tib
} else := _scaled(n, _gib, "GiB") if {
	n >= _gib
} else := _scaled(n, _mib, "MiB") if {
	n >= _mib
} else := _scaled(n, _kib, "KiB") if {
	n >= _kib
} else := sprintf("%v bytes", [n])

_scaled(n, unit, name) := sprintf("%v %s", [round((n * 100) / unit) / 100, name])

# METADATA
# title: Human-readable duration
# description: Formats seconds with the largest unit that divides them exactly.
format_duration(s) := _plural(s / 86400, "day") if {
	s > 0
	s % 86400 == 0
} else := _plural(s / 3600, "hour") if {
	s > 0
	s % 3600 == 0
} else := _plural(s / 60, "minute") if {
	s > 0
	s % 60 == 0
} else := _plural(s, "second")

_plural(1, unit) := sprintf("1 %s", [unit])

_plural(n, unit) := sprintf("%v %ss", [n, unit]) if n != 1
