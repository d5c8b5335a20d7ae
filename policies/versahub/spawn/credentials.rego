package versahub.spawn

import data.versahub.lib

# METADATA
# title: Your credentials in the server
# description: >-
#   With the user's credentials, code in the server can act as the user in
#   every service that accepts them: read mail, push code, change records.
# custom:
#   id: credentials-passed
#   severity: critical
#   message: >-
#     Your credentials are passed into this server, so code in it could act as %s in every
#     service that accepts them.
#   mitigation: >-
#     Turn credentials off unless the notebooks must reach a service as you, and use them only
#     with code you trust.
warn contains lib.finding(rego.metadata.rule(), [input.user.name]) if {
	input.spec.credentials == true
}

# METADATA
# title: Credentials with code from an untrusted site
# description: >-
#   Credentials may be passed only to servers built from repositories on the
#   forges the site trusts (trusted_forges).
# custom:
#   id: credentials-untrusted-forge
#   severity: critical
#   message: >-
#     Your credentials cannot be passed to a server built from %s, a site this hub does not
#     trust with them.
#   mitigation: >-
#     Turn credentials off, or use a repository hosted on one of the hub's trusted sites.
deny contains lib.finding(rego.metadata.rule(), [repo_host]) if {
	input.spec.credentials == true
	is_string(input.spec.source.host)
	not forge_trusted
}

# METADATA
# title: Forge trusted
# description: True when a trusted_forges pattern matches the repository host.
forge_trusted if {
	some pattern in trusted_forges
	glob.match(lower(pattern), ["."], repo_host)
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "credentials"
