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
# title: Mount over the image's own files
# description: >-
#   A volume mounted at, inside or above the repository folder or a folder of the image's
#   software (protected_paths) hides or replaces files the server needs: the repository it
#   was built from, its Python environment, the system's programs. A read-write volume
#   there could also plant code that runs as the user. Denied: the mount point is the
#   user's choice, and the home folder is the place for data.
# custom:
#   id: storage-protected-path
#   severity: high
#   message: >-
#     The volume %q cannot be mounted at %s, because it would cover %s, which this server
#     needs to run.
#   mitigation: >-
#     Mount the volume in the home folder instead, for example at /home/jovyan/data; the
#     repository's files are copied into your project folder there.
deny contains lib.finding(rego.metadata.rule(), [mount.volume, mount.path, concat(", ", sort(hidden))]) if {
	some mount in mounts
	is_string(mount.path)
	hidden := {p | some p in protected_paths; _covers(mount.path, p)}
	count(hidden) > 0
}

# A mount point covers a protected path when it is the same folder, one inside it or one
# above it. Empty and "." segments do not count (/srv//repo/ is /srv/repo); a path that
# climbs with ".." cannot be placed without the file system, so it covers everything.
_covers(path, protected) if _prefix(_segments(path), _segments(protected))

_covers(path, protected) if _prefix(_segments(protected), _segments(path))

_covers(path, _) if ".." in split(path, "/")

_segments(path) := [seg | some seg in split(path, "/"); not seg in {"", "."}]

_prefix(short, long) if array.slice(long, 0, count(short)) == short

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
