package versahub.spawn

import data.versahub.lib

_group_prefix := "group:"

# METADATA
# title: Collaborators act as you
# description: >-
#   JupyterHub sharing grants full access, terminals included: a collaborator
#   runs code as the owner, with the owner's files, volumes and credentials.
# custom:
#   id: collaborators-act-as-you
#   severity: high
#   message: >-
#     You are sharing this server with %s, and anyone you add acts as you inside this server.
#   mitigation: >-
#     Add only people you trust with everything this server can reach, and prefer individual
#     users to whole groups.
warn contains lib.finding(rego.metadata.rule(), [lib.quoted_list(collaborators)]) if {
	count(collaborators) > 0
}

# METADATA
# title: Unknown collaborator
# description: >-
#   Every collaborator must be an existing hub user, and every "group:NAME" an
#   existing hub group (input.directory), so a typo cannot grant access to
#   whoever registers the name later.
# custom:
#   id: collaborator-unknown
#   severity: medium
#   message: "The collaborator %q does not exist on this hub."
#   mitigation: "Check the spelling of the user or group name, or remove it."
deny contains lib.finding(rego.metadata.rule(), [name]) if {
	some name in collaborators
	not _known(name)
}

_known(name) if {
	not startswith(name, _group_prefix)
	name in _list(object.get(_obj(object.get(input, "directory", {})), "users", []))
}

_known(name) if {
	startswith(name, _group_prefix)
	trim_prefix(name, _group_prefix) in _list(object.get(_obj(object.get(input, "directory", {})), "groups", []))
}

# METADATA
# title: Sharing with a group you are not in
# description: >-
#   When the site's share.groups is "member" (the default), users may share
#   only with groups they belong to; admins may share with any group.
# custom:
#   id: collaborator-group-forbidden
#   severity: medium
#   message: "You are not a member of the group %q, so you cannot share this server with it."
#   mitigation: >-
#     Share with the people individually, or ask a member of the group or a hub administrator.
deny contains lib.finding(rego.metadata.rule(), [group]) if {
	share_groups != "any"
	input.user.admin != true
	some name in collaborators
	startswith(name, _group_prefix)
	group := trim_prefix(name, _group_prefix)
	not group in user_groups
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "collaborators"
