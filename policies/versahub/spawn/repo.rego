package versahub.spawn

import data.versahub.lib

# Addresses that reach the hub's own network or cloud metadata service.
# Security constants, not site values: a site exempts a host through
# allowed_internal_hosts instead of editing this list.
_internal_cidrs := [
	"0.0.0.0/8", # "this network": 0.0.0.0 reaches the local host
	"10.0.0.0/8",
	"100.64.0.0/10", # carrier-grade NAT; also some cloud metadata services
	"127.0.0.0/8",
	"169.254.0.0/16", # link-local, including 169.254.169.254 (cloud metadata)
	"172.16.0.0/12",
	"192.168.0.0/16",
	"::/128",
	"::1/128",
	"fc00::/7",
	"fe80::/10",
]

_internal_names := {"localhost", "metadata.google.internal"}

_internal_suffixes := [".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan"]

_ipv4 := `^[0-9]{1,3}(\.[0-9]{1,3}){3}$`

# Dotted, decimal, octal or hex forms such as 2130706433 or 0x7f.1, which git
# and curl still resolve to an IP address.
_numeric_host := `^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+))*$`

# METADATA
# title: Host is an IP literal
# description: True when the repository host is an IPv4 or IPv6 address in any notation.
host_is_ip if contains(repo_host, ":")

host_is_ip if regex.match(_numeric_host, repo_host)

_canonical_ip if contains(repo_host, ":")

_canonical_ip if regex.match(_ipv4, repo_host)

# METADATA
# title: Host is internal
# description: >-
#   True when the repository host names a loopback, private, link-local or
#   metadata address, a reserved internal domain, or a single-label name that
#   the hub's resolver would complete with its own search domains.
host_is_internal if repo_host in _internal_names

host_is_internal if {
	some suffix in _internal_suffixes
	endswith(repo_host, suffix)
}

host_is_internal if {
	not contains(repo_host, ".")
	not host_is_ip
}

host_is_internal if {
	_canonical_ip
	some cidr in _internal_cidrs
	net.cidr_contains(cidr, repo_host)
}

# METADATA
# title: Host allowed internally
# description: True when allowed_internal_hosts names the host, matches it as a glob, or holds it in a CIDR range.
host_allowed_internal if {
	some entry in allowed_internal_hosts
	glob.match(lower(entry), ["."], repo_host)
}

host_allowed_internal if {
	_canonical_ip
	some entry in allowed_internal_hosts
	contains(entry, "/")
	net.cidr_contains(entry, repo_host)
}

# METADATA
# title: Unencrypted repository address
# description: >-
#   Only https keeps the code from being read or swapped on its way to the
#   builder; http, git:// and other schemes are refused.
# custom:
#   id: repo-insecure-scheme
#   severity: high
#   message: >-
#     The repository address uses %q instead of https, so its code could be swapped on its way
#     to the hub.
#   mitigation: "Use the https:// address of the repository."
deny contains lib.finding(rego.metadata.rule(), [input.spec.source.scheme]) if {
	is_string(input.spec.source.scheme)
	lower(input.spec.source.scheme) != "https"
}

# METADATA
# title: Repository address is an IP address
# description: >-
#   A raw IP address hides where the code comes from and is the usual way to
#   reach machines that have no public name. Refused unless the site lists the
#   address in allowed_internal_hosts.
# custom:
#   id: repo-ip-literal
#   severity: high
#   message: "The repository address uses the raw IP address %s instead of a host name."
#   mitigation: >-
#     Use the repository's usual web address, such as https://github.com/owner/repository.
deny contains lib.finding(rego.metadata.rule(), [repo_host]) if {
	host_is_ip
	not host_allowed_internal
}

# METADATA
# title: Repository inside the hub's network
# description: >-
#   The builder fetches the repository from inside the institution's network,
#   so a link could make it reach internal services or the cloud metadata
#   server (server-side request forgery). Refused unless the site lists the
#   host in allowed_internal_hosts.
# custom:
#   id: repo-internal-host
#   severity: critical
#   message: >-
#     The repository address points to %s, a machine inside the hub's private network, which
#     launch links may not reach.
#   mitigation: >-
#     Use a repository on a public code-hosting site; if this internal server is legitimate,
#     ask the hub administrators to allow it.
deny contains lib.finding(rego.metadata.rule(), [repo_host]) if {
	host_is_internal
	not host_allowed_internal
}

# METADATA
# title: Repository host not allowed
# description: >-
#   The site builds only from the code-hosting sites in allowed_forges
#   ("*" allows any public host).
# custom:
#   id: repo-forge-not-allowed
#   severity: medium
#   message: "The repository is hosted on %s, which is not one of the sites this hub builds from."
#   mitigation: >-
#     Use a copy of the repository on a site this hub allows, or ask the hub administrators to
#     allow this one.
deny contains lib.finding(rego.metadata.rule(), [repo_host]) if {
	is_string(input.spec.source.host)
	not forge_allowed
}

# METADATA
# title: Forge allowed
# description: True when allowed_forges holds "*" or a pattern matching the repository host.
forge_allowed if "*" in allowed_forges

forge_allowed if {
	some pattern in allowed_forges
	glob.match(lower(pattern), ["."], repo_host)
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "repo"
