# METADATA
# title: VersaHub spawn policy
# description: >-
#   Decides whether a requested server configuration may start, and which risks
#   the user must confirm first. Query data.versahub.spawn.decision with the
#   input document of docs/architecture.md; site values come from
#   data.versahub.site (see site.rego).
package versahub.spawn

import data.versahub.lib

# The input keys every decision relies on, with the JSON type each must have.
# The hub renders them from ServerSpec.to_dict(); a missing key is a bug in the
# caller, so it is denied rather than guessed.
_required := [
	[["spec"], "object"],
	[["spec", "repo"], "string"],
	[["spec", "source"], "object"],
	[["spec", "source", "scheme"], "string"],
	[["spec", "source", "host"], "string"],
	[["spec", "mounts"], "array"],
	[["spec", "collaborators"], "array"],
	[["spec", "internet"], "boolean"],
	[["spec", "credentials"], "boolean"],
	[["spec", "public_readonly"], "boolean"],
	[["spec", "limits"], "object"],
	[["user"], "object"],
	[["user", "name"], "string"],
	[["user", "groups"], "array"],
	[["user", "admin"], "boolean"],
	[["origin"], "object"],
	[["origin", "external"], "boolean"],
]

# Optional keys: checked only when present.
_optional := [
	[["spec", "limits", "memory_bytes"], "number or null"],
	[["spec", "limits", "cpu"], "number or null"],
	[["spec", "limits", "max_duration_seconds"], "number or null"],
	[["spec", "limits", "idle_timeout_seconds"], "number or null"],
	[["origin", "referrer"], "string or null"],
	[["directory"], "object"],
	[["directory", "users"], "array"],
	[["directory", "groups"], "array"],
]

_has_type(x, "object") if is_object(x)

_has_type(x, "string") if is_string(x)

_has_type(x, "array") if is_array(x)

_has_type(x, "boolean") if is_boolean(x)

_has_type(x, "number or null") if is_number(x)

_has_type(null, "number or null")

_has_type(x, "string or null") if is_string(x)

_has_type(null, "string or null")

_parent_is_object(path) if is_object(object.get(input, array.slice(path, 0, count(path) - 1), null))

# METADATA
# title: Input problems
# description: >-
#   One short text per malformed part of the input; empty for a well-formed
#   input. Only the outermost missing key of a path is reported.
input_problems contains "the input is not a JSON object" if not _input_is_object

# A separate rule, because `not is_object(input)` is undefined, not true, when
# there is no input at all.
_input_is_object if is_object(input)

input_problems contains sprintf("%s is missing or is not %s", [concat(".", path), _article(kind)]) if {
	is_object(input)
	some [path, kind] in _required
	_parent_is_object(path)
	not _has_type(object.get(input, path, null), kind)
}

input_problems contains sprintf("%s is not %s", [concat(".", path), _article(kind)]) if {
	is_object(input)
	some [path, kind] in _optional
	_parent_is_object(path)
	value := object.get(input, path, null)
	not _absent_optional(path)
	not _has_type(value, kind)
}

input_problems contains sprintf("spec.mounts[%d] is not a mount {volume, path, mode: ro|rw}", [i]) if {
	some i, mount in _array_at(["spec", "mounts"])
	not _valid_mount(mount)
}

input_problems contains sprintf("%s[%d] is not a string", [concat(".", path), i]) if {
	some path in [["spec", "collaborators"], ["user", "groups"], ["directory", "users"], ["directory", "groups"]]
	some i, item in _array_at(path)
	not is_string(item)
}

# A repository that is not the one its source describes (the parser derives source from
# repo; a document where they disagree did not come from it): a DOI, or the source's
# scheme://host at the start of the URL.
input_problems contains "spec.repo does not match spec.source" if {
	is_string(input.spec.repo)
	is_string(input.spec.source.scheme)
	is_string(input.spec.source.host)
	not _repo_matches_source(input.spec.repo)
}

_repo_matches_source(repo) if regex.match(`^10\.[0-9]{4,9}/`, repo)

_repo_matches_source(repo) if {
	source := input.spec.source
	some prefix in [
		sprintf("%s://%s", [source.scheme, source.host]),
		sprintf("%s://[%s]", [source.scheme, source.host]), # an IPv6 host, in brackets
	]
	_url_starts_with_authority(lower(repo), lower(prefix))
}

# the prefix is the whole authority: only a port, a path, a query or nothing follows
# (https://github.com.evil.example/... and https://github.com:443@evil.example/ are not
# https://github.com)
_url_starts_with_authority(url, prefix) if {
	startswith(url, prefix)
	regex.match(`^(:[0-9]{1,5})?([/?#].*)?$`, substring(url, count(prefix), -1))
}

input_problems contains sprintf("spec.limits.%s is negative", [key]) if {
	some key in ["memory_bytes", "cpu", "max_duration_seconds", "idle_timeout_seconds"]
	value := input.spec.limits[key]
	is_number(value)
	value < 0
}

_absent_optional(path) if not _present(path)

_present(path) if {
	parent := object.get(input, array.slice(path, 0, count(path) - 1), {})
	path[count(path) - 1] in object.keys(parent)
}

_article(kind) := sprintf("an %s", [kind]) if {
	substring(kind, 0, 1) in {"a", "o"}
} else := sprintf("a %s", [kind])

_array_at(path) := value if {
	is_object(input)
	value := object.get(input, path, [])
	is_array(value)
} else := []

_valid_mount(mount) if {
	is_string(mount.volume)
	is_string(mount.path)
	mount.mode in {"ro", "rw"}
}

# METADATA
# title: Malformed request
# description: >-
#   The hub must send the whole input document of docs/architecture.md. When a
#   part is missing or has the wrong type no other rule can be trusted, so the
#   decision holds only these findings and denies the launch (fail closed).
# custom:
#   id: input-invalid
#   severity: critical
#   message: >-
#     The hub sent the policy engine an incomplete request (%s), so this server cannot be
#     checked and will not start.
#   mitigation: >-
#     Try again; if it keeps failing, tell the hub administrators: this is a fault in the hub,
#     not in your settings.
deny contains lib.finding(rego.metadata.rule(), [problem]) if {
	some problem in input_problems
}

# METADATA
# title: Repository host
# description: The repository's host name, lower-cased, without IPv6 brackets or trailing dots.
repo_host := trim_right(trim_suffix(trim_prefix(lower(input.spec.source.host), "["), "]"), ".")

# METADATA
# title: User groups
# description: The set of groups the user belongs to.
user_groups := {g | some g in input.user.groups}

# METADATA
# title: Mounts
# description: The requested mounts, or none when the input has no valid list.
mounts := _array_at(["spec", "mounts"])

# METADATA
# title: Collaborators
# description: The requested collaborators, or none when the input has no valid list.
collaborators := _array_at(["spec", "collaborators"])

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "input"
