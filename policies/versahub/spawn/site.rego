package versahub.spawn

# Site data (data.versahub.site), rendered from site.yaml by versahub.site.
# Every key has a default here so that a site file without it still yields a
# decision; the defaults trust nothing and cap nothing that the site did not
# name. Site-specific values live in data only, never in rule bodies.

default _site := {}

_site := data.versahub.site if is_object(data.versahub.site)

_obj(x) := x if {
	is_object(x)
} else := {}

_list(x) := x if {
	is_array(x)
} else := []

# METADATA
# title: Trusted repositories
# description: Glob patterns ("/" separates segments) of repositories whose code the site vouches for.
trusted_repos := _list(object.get(_site, "trusted_repos", []))

# METADATA
# title: Trusted forges
# description: Host patterns ("." separates labels) the user's credentials may be passed to.
trusted_forges := _list(object.get(_site, "trusted_forges", []))

# METADATA
# title: Allowed forges
# description: Host patterns repositories may come from; "*" allows any public host.
allowed_forges := _list(object.get(_site, "allowed_forges", ["*"]))

# METADATA
# title: Allowed internal hosts
# description: Host names, host patterns or CIDR ranges exempt from the internal-host and IP-literal rules.
allowed_internal_hosts := _list(object.get(_site, "allowed_internal_hosts", []))

# METADATA
# title: Default caps
# description: Resource caps for users in no capped group.
caps_default := _obj(object.get(_obj(object.get(_site, "caps", {})), "default", {}))

# METADATA
# title: Group caps
# description: Resource caps per group; the most generous of the user's groups applies.
caps_groups := _obj(object.get(_obj(object.get(_site, "caps", {})), "groups", {}))

# METADATA
# title: Large request thresholds
# description: Requests above these amounts are allowed but warned about.
large_request := _obj(object.get(_site, "large_request", {}))

# METADATA
# title: Volumes
# description: Volumes users may mount, with read and write access lists.
volumes := _obj(object.get(_site, "volumes", {}))

# METADATA
# title: Repository folder
# description: >-
#   Where the image keeps the repository's files (images.target_repo_dir); no volume may be
#   mounted over it. repo2docker's default when the site does not say.
repo_dir := d if {
	d := object.get(_site, "repo_dir", null)
	is_string(d)
} else := "/srv/repo"

# The folders of the image's operating system and software that a server needs to run:
# the system hierarchy (programs, libraries, configuration, the kernel's virtual file
# systems, variable data) and the environments repo2docker and VersaHub's base image
# install (/srv/conda, /srv/npm, /srv/julia, /srv/venv; /opt/conda of Jupyter's images).
# Left out on purpose: /home (the home volume goes there), /tmp (the image keeps nothing
# in it; the spec parser refuses a mount at /tmp itself), /mnt, /media and the rest of
# /srv and /opt, which are free for data.
_image_paths := [
	"/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/opt/conda",
	"/proc", "/root", "/run", "/sbin", "/srv/conda", "/srv/julia", "/srv/npm", "/srv/venv",
	"/sys", "/usr", "/var",
]

# METADATA
# title: Protected paths
# description: >-
#   Folders no volume may be mounted at, inside or above: the repository folder and the
#   image's own software (protected_paths in the site data replaces the built-in list).
protected_paths := {p |
	some p in array.concat([repo_dir], _list(object.get(_site, "protected_paths", _image_paths)))
	is_string(p)
}

# METADATA
# title: Group sharing mode
# description: '"member" (default): users may share only with groups they belong to; "any": with any group.'
share_groups := object.get(_obj(object.get(_site, "share", {})), "groups", "member")

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "site"
