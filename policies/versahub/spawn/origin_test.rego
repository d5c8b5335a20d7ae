package versahub.spawn_test

test_external_link_warns_naming_the_referrer if {
	doc := object.union(base_input, {"origin": {"external": true, "referrer": "https://mybinder.org/"}})
	warn_messages(doc, "origin-external-link") == {
		"This launch link came from https://mybinder.org/, outside this hub; check that you trust whoever made it.",
	}
}

test_external_link_without_referrer_names_an_unknown_page if {
	every origin in [{"external": true, "referrer": null}, {"external": true, "referrer": ""}, {"external": true}] {
		warn_messages(object.union(base_input, {"origin": origin}), "origin-external-link") == {
			"This launch link came from an unknown page, outside this hub; check that you trust whoever made it.",
		}
	}
}

test_internal_link_does_not_warn if {
	not "origin-external-link" in warn_ids(base_input)
}
