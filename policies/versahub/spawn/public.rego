package versahub.spawn

import data.versahub.lib

# METADATA
# title: Public access with writable storage
# description: >-
#   Public read-only access lets anyone with the link use a throw-away copy of the
#   server, which mounts the same volumes; every one of them must then be read-only.
#   Home volumes never go into a copy, so the owner's own home may stay writable.
# custom:
#   id: public-readonly-rw-mount
#   severity: high
#   message: "Public read-only access cannot be combined with the read-write volume %q."
#   mitigation: "Mount the volume read-only (mode ro), or turn public access off."
deny contains lib.finding(rego.metadata.rule(), [mount.volume]) if {
	input.spec.public_readonly == true
	some mount in mounts
	mount.mode == "rw"
	not _home_volume(mount.volume)
}

_home_volume(name) if volumes[name].kind == "home"

# METADATA
# title: Public access with your credentials
# description: Anyone with a public link could use the owner's credentials, so the two are exclusive.
# custom:
#   id: public-readonly-credentials
#   severity: critical
#   message: >-
#     Public read-only access cannot be combined with passing your credentials, because anyone
#     with the link could act as %s.
#   mitigation: "Turn credentials off, or turn public access off."
deny contains lib.finding(rego.metadata.rule(), [input.user.name]) if {
	input.spec.public_readonly == true
	input.spec.credentials == true
}

# METADATA
# title: Public access with collaborators
# description: >-
#   Collaborators get full access to the owner's server, which contradicts a
#   public, read-only, throw-away session; launch them as separate servers.
# custom:
#   id: public-readonly-collaborators
#   severity: medium
#   message: "Public read-only access cannot be combined with collaborators (%s)."
#   mitigation: "Remove the collaborators, or launch a separate, private server to share with them."
deny contains lib.finding(rego.metadata.rule(), [lib.quoted_list(collaborators)]) if {
	input.spec.public_readonly == true
	count(collaborators) > 0
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "public"
