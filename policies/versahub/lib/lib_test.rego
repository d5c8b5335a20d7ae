package versahub.lib_test

import data.versahub.lib

test_format_bytes if {
	lib.format_bytes(512) == "512 bytes"
	lib.format_bytes(1536) == "1.5 KiB"
	lib.format_bytes(268435456) == "256 MiB"
	lib.format_bytes(17179869184) == "16 GiB"
	lib.format_bytes(1431655765) == "1.33 GiB"
	lib.format_bytes(2199023255552) == "2 TiB"
}

test_format_duration if {
	lib.format_duration(86400) == "1 day"
	lib.format_duration(604800) == "7 days"
	lib.format_duration(7200) == "2 hours"
	lib.format_duration(5400) == "90 minutes"
	lib.format_duration(45) == "45 seconds"
	lib.format_duration(0) == "0 seconds"
}

test_quoted_list_is_sorted_and_quoted if {
	lib.quoted_list({"b", "a"}) == "\"a\", \"b\""
}

f(id, message) := {"id": id, "severity": "low", "title": "T", "message": message, "mitigation": "M"}

test_sorted_findings_by_id_then_message if {
	findings := {f("b", "1"), f("a", "2"), f("a", "1")}
	lib.sorted_findings(findings) == [f("a", "1"), f("a", "2"), f("b", "1")]
}

# METADATA
# title: Incomplete metadata
# custom:
#   severity: urgent
test_incomplete_metadata_is_reported if {
	f := lib.finding(rego.metadata.rule(), [])
	f == {"id": null, "severity": "urgent", "title": "Incomplete metadata", "message": null, "mitigation": null}
	[g.id | some g in lib.sorted_findings({f})] == ["policy-malformed-finding"]
}

test_malformed_findings_are_reported_not_dropped if {
	sorted := lib.sorted_findings({"bare string", {"id": "x"}})
	[f.id | some f in sorted] == ["policy-malformed-finding", "policy-malformed-finding"]
	{f.message | some f in sorted} == {
		"A policy rule of this hub returned bare string instead of a finding.",
		"A policy rule of this hub returned {\"id\": \"x\"} instead of a finding.",
	}
}

# METADATA
# title: Example
# custom:
#   id: example-id
#   severity: low
#   message: "Value %s."
#   mitigation: Do less.
test_finding_from_metadata if {
	lib.finding(rego.metadata.rule(), ["x"]) == {
		"id": "example-id", "severity": "low", "title": "Example",
		"message": "Value x.", "mitigation": "Do less.",
	}
}
