package versahub.spawn_test

test_credentials_warn if {
	warn_messages(with_spec({"credentials": true}), "credentials-passed") == {
		"Your credentials are passed into this server, so code in it could act as alice in every service that accepts them.",
	}
}

test_no_credentials_do_not_warn if {
	not "credentials-passed" in warn_ids(base_input)
}

test_credentials_to_trusted_forge_are_allowed if {
	doc := with_spec({"credentials": true})
	not "credentials-untrusted-forge" in deny_ids(doc)
	decide(doc).allowed
}

test_credentials_to_untrusted_forge_are_denied if {
	doc := object.union(with_repo("https://codeberg.org/a/b", "https", "codeberg.org"), {"spec": {"credentials": true}})
	deny_messages(doc, "credentials-untrusted-forge") == {
		"Your credentials cannot be passed to a server built from codeberg.org, a site this hub does not trust with them.",
	}
}

test_untrusted_forge_without_credentials_is_allowed if {
	not "credentials-untrusted-forge" in deny_ids(with_repo("https://codeberg.org/a/b", "https", "codeberg.org"))
}

test_credentials_trust_nothing_without_site_data if {
	ids := {f.id | some f in decide_on(with_spec({"credentials": true}), {}).deny}
	"credentials-untrusted-forge" in ids
}
