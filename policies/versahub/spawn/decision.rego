package versahub.spawn

import data.versahub.lib

# METADATA
# title: Spawn decision
# description: >-
#   The document the hub queries: allowed when no rule denies; deny and warn
#   sorted by id, then message. Always defined: a malformed input yields only
#   its input-invalid findings and is denied.
# entrypoint: true
decision := {
	"allowed": false,
	"deny": lib.sorted_findings({f | some f in deny; f.id == "input-invalid"}),
	"warn": [],
} if {
	count(input_problems) > 0
} else := {
	"allowed": count(deny) == 0,
	"deny": lib.sorted_findings(deny),
	"warn": lib.sorted_findings(shown_warn),
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "decision"
