package versahub.spawn

import data.versahub.lib

# The files that make up this package. Each one ends with `concerns contains "<name>"`, so
# a file that OPA's --watch read half-written (an in-place save caught mid-write can still
# compile, with its last rules missing) is noticed and the decision is denied instead of
# silently losing deny rules. Add a file here when you add one to the package.
expected_concerns := {
	"collaborators", "course", "credentials", "image", "input", "network", "origin",
	"public", "quota", "repo", "resources", "site", "storage", "decision",
}

# METADATA
# title: Policy files incompletely loaded
# description: >-
#   A policy file of the package did not load in full (for example it was read while being
#   saved), so some of its rules may be missing. Deny until the files are whole again.
# custom:
#   id: policy-incomplete
#   severity: critical
#   message: >-
#     The site's security policy is incompletely loaded (part %q is missing), so this
#     configuration cannot be checked.
#   mitigation: >-
#     Try again in a minute; if it persists, tell the site's administrators (policy files
#     must be deployed by writing a new file and renaming it).
deny contains lib.finding(rego.metadata.rule(), [concern]) if {
	some concern in expected_concerns
	not concerns[concern]
}
