package versahub.spawn

import data.versahub.lib

# METADATA
# title: Code from an untrusted repository
# description: >-
#   The image is built from a repository the user chose. Its build scripts and
#   start-up code run with the user's rights inside the server: they can read
#   and change everything the server can reach. Repositories matching the
#   site's trusted_repos patterns are exempt.
# custom:
#   id: image-untrusted-repo
#   severity: high
#   message: >-
#     The environment is built from %s, a repository this hub does not vouch for, and its code
#     can take any action inside the server.
#   mitigation: >-
#     Launch only repositories whose authors you trust, or ask the hub administrators to add
#     this one to the trusted repositories.
warn contains lib.finding(rego.metadata.rule(), [input.spec.repo]) if {
	is_string(input.spec.repo)
	not repo_trusted
}

# METADATA
# title: Repository trusted
# description: >-
#   True when the repository matches a trusted_repos glob ("*" stays within one
#   path segment) and has no "." or ".." segment that could step outside it.
repo_trusted if {
	some pattern in trusted_repos
	glob.match(pattern, ["/"], input.spec.repo)
	not _has_dot_segment(input.spec.repo)
}

_has_dot_segment(repo) if {
	some segment in split(repo, "/")
	segment in {".", ".."}
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "image"
