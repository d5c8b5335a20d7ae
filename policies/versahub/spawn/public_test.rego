package versahub.spawn_test

test_public_with_read_write_mount_is_denied if {
	doc := with_spec({"public_readonly": true, "mounts": [mount("ds101-shared", "rw")]})
	deny_messages(doc, "public-readonly-rw-mount") == {
		"Public read-only access cannot be combined with the read-write volume \"ds101-shared\".",
	}
}

# the owner's home never goes into a public copy: it may stay writable for the owner
test_public_with_the_owner_home_read_write_is_not_refused_for_it if {
	doc := with_spec({"public_readonly": true, "mounts": [mount("home", "rw")]})
	not "public-readonly-rw-mount" in deny_ids(doc)
}

test_public_with_read_only_mount_is_allowed if {
	doc := with_spec({"public_readonly": true, "mounts": [mount("home", "ro")]})
	not "public-readonly-rw-mount" in deny_ids(doc)
	decide(doc).allowed
}

test_private_with_read_write_mount_is_allowed if {
	not "public-readonly-rw-mount" in deny_ids(with_spec({"mounts": [mount("home", "rw")]}))
}

test_public_with_credentials_is_denied if {
	deny_messages(with_spec({"public_readonly": true, "credentials": true}), "public-readonly-credentials") == {
		concat("", [
			"Public read-only access cannot be combined with passing your credentials, ",
			"because anyone with the link could act as alice.",
		]),
	}
}

test_public_without_credentials_is_allowed if {
	not "public-readonly-credentials" in deny_ids(with_spec({"public_readonly": true}))
}

test_public_with_collaborators_is_denied if {
	deny_messages(with_spec({"public_readonly": true, "collaborators": ["bob"]}), "public-readonly-collaborators") == {
		"Public read-only access cannot be combined with collaborators (\"bob\").",
	}
}

test_private_with_collaborators_is_not_denied_as_public if {
	not "public-readonly-collaborators" in deny_ids(with_spec({"collaborators": ["bob"]}))
}
