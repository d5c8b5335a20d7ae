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
	_touches(mount.path)
	hidden := _hidden(mount.path)
	count(hidden) > 0
}

# A mount point covers a protected path when it is the same folder, one inside it or one
# above it. Empty and "." segments do not count (/srv//repo/ is /srv/repo); a path that
# climbs with ".." cannot be placed without the file system, so it covers everything.
# Paths are compared as prefixes "seg/seg/" ("" for /), each built once per decision, with
# builtins only inside the loop (a Rego function call per pair costs more than the rest).
_protected_prefixes[p] := _prefix(p) if some p in protected_paths

# Every protected prefix between newlines ("\nbin/\nboot/\n…\n"): one string, so the
# quick test below is a few `contains` per mount. With the built-in list it is a constant
# (storage_test checks it against _image_paths): building it from 21 paths at every
# decision took a fifth of the decision's time.
_protected_text := concat("", ["\n", _image_text, "\n", _prefix(repo_dir), "\n"]) if {
	object.get(_site, "protected_paths", null) == null
} else := concat("", ["\n", concat("\n", [q | some q in _protected_prefixes]), "\n"])

_image_text := "bin/\nboot/\ndev/\netc/\nlib/\nlib32/\nlib64/\nlibx32/\nopt/conda/\nproc/\nroot/\nrun/\nsbin/\nsrv/conda/\nsrv/julia/\nsrv/npm/\nsrv/venv/\nsys/\nusr/\nvar/"

# A quick test first: the mount point is a protected path or above one, or one of its
# ancestors is protected. Only then is the list of what it hides computed.
_touches(path) if _climbs(path)

_touches(path) if contains(_protected_text, concat("", ["\n", _prefix(path)]))

_touches(path) if {
	segments := [seg | some seg in split(path, "/"); not seg in {"", "."}]
	some n in numbers.range(0, count(segments))
	ancestor := concat("", [concat("", [seg, "/"]) | some seg in array.slice(segments, 0, n)])
	contains(_protected_text, concat("", ["\n", ancestor, "\n"]))
}

_hidden(path) := protected_paths if {
	_climbs(path)
} else := {p |
	prefix := _prefix(path)
	some p, protected in _protected_prefixes
	true in {startswith(prefix, protected), startswith(protected, prefix)}
}

default _climbs(_) := false

_climbs(path) if ".." in split(path, "/")

_prefix(path) := concat("", [concat("", [seg, "/"]) | some seg in split(path, "/"); not seg in {"", "."}])

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
