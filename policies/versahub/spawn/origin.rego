package versahub.spawn

import data.versahub.lib

# METADATA
# title: Link from outside the hub
# description: >-
#   Anyone can publish a launch link; one opened from another site may have
#   been crafted to start a harmful configuration under the user's name.
# custom:
#   id: origin-external-link
#   severity: medium
#   message: >-
#     This launch link came from %s, outside this hub; check that you trust whoever made it.
#   mitigation: "Review the settings below; if you did not expect this link, cancel."
warn contains lib.finding(rego.metadata.rule(), [_referrer]) if {
	input.origin.external == true
}

default _referrer := "an unknown page"

_referrer := input.origin.referrer if {
	is_string(input.origin.referrer)
	input.origin.referrer != ""
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "origin"
