package versahub.spawn_test

test_untrusted_repo_warns_naming_the_repo if {
	doc := with_repo("https://github.com/someone/miner", "https", "github.com")
	warn_messages(doc, "image-untrusted-repo") == {concat("", [
		"The environment is built from https://github.com/someone/miner, a repository this hub does not vouch for, ",
		"and its code can take any action inside the server.",
	])}
	decide(doc).allowed
}

test_trusted_repo_does_not_warn if {
	not "image-untrusted-repo" in warn_ids(base_input)
}

test_trusted_glob_stays_within_one_segment if {
	"image-untrusted-repo" in warn_ids(with_repo("https://github.com/binder-examples/a/b", "https", "github.com"))
}

test_trusted_glob_refuses_dot_segments if {
	"image-untrusted-repo" in warn_ids(with_repo("https://github.com/binder-examples/..", "https", "github.com"))
}

test_no_trusted_repos_in_site_data_trusts_nothing if {
	some f in decide_on(base_input, {}).warn
	f.id == "image-untrusted-repo"
}
