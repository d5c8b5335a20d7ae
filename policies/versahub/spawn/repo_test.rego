package versahub.spawn_test

test_http_scheme_is_denied if {
	deny_messages(with_repo("http://github.com/a/b", "http", "github.com"), "repo-insecure-scheme") == {
		"The repository address uses \"http\" instead of https, so its code could be swapped on its way to the hub.",
	}
}

test_https_scheme_is_not_denied if {
	not "repo-insecure-scheme" in deny_ids(base_input)
	not "repo-insecure-scheme" in deny_ids(with_repo("HTTPS://github.com/a/b", "HTTPS", "github.com"))
}

ip_literals := [
	"8.8.8.8", "2001:db8::1", "[2001:db8::1]",
	"2130706433", "0x7f.1", "017700000001",
]

test_ip_literals_are_denied if {
	every host in ip_literals {
		"repo-ip-literal" in deny_ids(with_repo(sprintf("https://%s/a/b", [host]), "https", host))
	}
}

test_ip_literal_message_names_the_address if {
	deny_messages(with_repo("https://8.8.8.8/a/b", "https", "8.8.8.8"), "repo-ip-literal") == {
		"The repository address uses the raw IP address 8.8.8.8 instead of a host name.",
	}
}

test_host_names_are_not_ip_literals if {
	every host in ["github.com", "gitlab.example.org", "1password.com", "123.example"] {
		not "repo-ip-literal" in deny_ids(with_repo(sprintf("https://%s/a/b", [host]), "https", host))
	}
}

internal_hosts := [
	"localhost", "LOCALHOST.", "api.localhost", "gitlab.local", "git.corp.internal",
	"metadata.google.internal", "router.lan", "nas.home.arpa", "box.localdomain", "gitlab",
	"127.0.0.1", "127.1.2.3", "0.0.0.0", "10.1.2.3", "100.100.100.200", "169.254.169.254",
	"169.254.1.1", "172.16.0.1", "172.31.255.255", "192.168.1.10",
	"::1", "[::1]", "::", "fc00::1", "fd00:ec2::254", "fe80::1", "::ffff:127.0.0.1",
]

test_internal_hosts_are_denied if {
	every host in internal_hosts {
		"repo-internal-host" in deny_ids(with_repo(sprintf("https://%s/a/b", [host]), "https", host))
	}
}

test_internal_host_message_names_the_host if {
	doc := with_repo("https://169.254.169.254/x", "https", "169.254.169.254")
	deny_messages(doc, "repo-internal-host") == {concat("", [
		"The repository address points to 169.254.169.254, a machine inside the hub's private network, ",
		"which launch links may not reach.",
	])}
}

test_public_hosts_are_not_internal if {
	every host in ["github.com", "172.32.0.1", "8.8.8.8", "2001:db8::1", "local.example.org", "internal.example.org"] {
		not "repo-internal-host" in deny_ids(with_repo(sprintf("https://%s/a/b", [host]), "https", host))
	}
}

site_with_internal := object.union(site, {"allowed_internal_hosts": [
	"gitlab.corp.internal", "*.lab.local",
	"10.20.0.0/16", "::1",
]})

test_allowed_internal_hosts_are_exempt if {
	every host in ["gitlab.corp.internal", "git.lab.local", "10.20.3.4", "::1"] {
		ids := {f.id | some f in decide_on(with_repo(sprintf("https://%s/a/b", [host]), "https", host), site_with_internal).deny}
		not "repo-internal-host" in ids
		not "repo-ip-literal" in ids
	}
}

test_allowed_internal_hosts_do_not_exempt_others if {
	every host in ["gitlab.other.internal", "10.21.0.1", "127.0.0.1"] {
		ids := {f.id | some f in decide_on(with_repo(sprintf("https://%s/a/b", [host]), "https", host), site_with_internal).deny}
		"repo-internal-host" in ids
	}
}

site_with_forges := object.union(site, {"allowed_forges": ["github.com", "*.example.org"]})

test_forge_not_allowed_is_denied if {
	denied := {f.message |
		some f in decide_on(with_repo("https://evil.example/a/b", "https", "evil.example"), site_with_forges).deny
		f.id == "repo-forge-not-allowed"
	}
	denied == {"The repository is hosted on evil.example, which is not one of the sites this hub builds from."}
}

test_forge_allowed_exactly_or_by_pattern if {
	every host in ["github.com", "GitHub.com", "git.example.org"] {
		ids := {f.id | some f in decide_on(with_repo(sprintf("https://%s/a/b", [host]), "https", host), site_with_forges).deny}
		not "repo-forge-not-allowed" in ids
	}
}

test_forge_pattern_does_not_cross_labels if {
	ids := {f.id | some f in decide_on(with_repo("https://a.b.example.org/a/b", "https", "a.b.example.org"), site_with_forges).deny}
	"repo-forge-not-allowed" in ids
}

test_any_forge_when_site_data_is_missing if {
	ids := {f.id | some f in decide_on(with_repo("https://codeberg.org/a/b", "https", "codeberg.org"), {}).deny}
	not "repo-forge-not-allowed" in ids
}
