package versahub.spawn

import data.versahub.lib

# METADATA
# title: Read-write storage
# description: >-
#   Code in the server can change or delete every file on a volume mounted
#   read-write, for instance the user's home directory.
# custom:
#   id: storage-read-write
#   severity: medium
#   message: >-
#     The volume %q is mounted read-write at %s, so code in this server could change or delete
#     its files.
#   mitigation: >-
#     Mount it read-only (mode ro) unless the notebooks must save files there, and keep a
#     backup of what matters.
warn contains lib.finding(rego.metadata.rule(), [mount.volume, mount.path]) if {
	some mount in mounts
	mount.mode == "rw"
}

# METADATA
# title: Unknown volume
# description: Only volumes the site declares in its volumes table can be mounted.
# custom:
#   id: volume-unknown
#   severity: medium
#   message: "There is no volume called %q on this hub."
#   mitigation: >-
#     Pick one of the volumes offered in the launch form, or ask the hub administrators to
#     create it.
deny contains lib.finding(rego.metadata.rule(), [mount.volume]) if {
	some mount in mounts
	not volumes[mount.volume]
}

# METADATA
# title: Volume not readable by you
# description: >-
#   A volume's read list (users, "*" for everyone, and groups) says who may
#   mount it; write access implies read access.
# custom:
#   id: volume-forbidden
#   severity: high
#   message: "You are not allowed to use the volume %q."
#   mitigation: >-
#     Remove this mount, or ask the volume's owners or the hub administrators for access.
deny contains lib.finding(rego.metadata.rule(), [mount.volume]) if {
	some mount in mounts
	volumes[mount.volume]
	not can_read(mount.volume)
}

# METADATA
# title: Volume not writable by you
# description: A volume can be mounted read-write only by the users and groups in its write list.
# custom:
#   id: volume-write-forbidden
#   severity: high
#   message: "You may only read the volume %q, but it is mounted read-write."
#   mitigation: "Mount it read-only (mode ro)."
deny contains lib.finding(rego.metadata.rule(), [mount.volume]) if {
	some mount in mounts
	mount.mode == "rw"
	can_read(mount.volume)
	not can_write(mount.volume)
}

# METADATA
# title: Can read volume
# description: True when the user may mount the volume read-only.
can_read(name) if _granted(object.get(_obj(volumes[name]), "read", {}))

can_read(name) if can_write(name)

# METADATA
# title: Can write volume
# description: True when the user may mount the volume read-write.
can_write(name) if _granted(object.get(_obj(volumes[name]), "write", {}))

_granted(acl) if "*" in _list(object.get(_obj(acl), "users", []))

_granted(acl) if input.user.name in _list(object.get(_obj(acl), "users", []))

_granted(acl) if {
	some group in _list(object.get(_obj(acl), "groups", []))
	group in user_groups
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "storage"
