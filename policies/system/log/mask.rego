# What OPA's decision records keep (docs/policies.md#decision-records).
#
# OPA evaluates data.system.log.mask for every decision before it logs or uploads it; its
# input is the decision event (input.input is what the hub asked about, input.result the
# decision). The site chooses what happens to user names in site.yaml
# (policy.decision_log.personal_data, rendered to data.versahub.site.decision_log):
#   keep  - user names stay as they are;
#   hash  - each name becomes "user-" + 12 hex digits of HMAC-SHA256 with the site's own key
#           (data.versahub.decision_log.key, written by `versahub up` next to the site data):
#           the same user has the same pseudonym in every record, so counts per user and
#           replays stay exact, but the name cannot be read back without the key;
#   drop  - each name becomes "user-1", "user-2", ... numbered within the record only.
# Any other value, and hash without a key, behave as drop (never weaker).
# Always: the findings keep their id, severity and title only (a message may quote a name,
# a mount path or a referrer; a replay writes them again), and a referrer is cut to its
# scheme and host (a query string may carry a token).
# Credentials never reach OPA (the input says only whether they are used).
package system.log

default mode := "drop"

mode := m if {
	m := data.versahub.site.decision_log.personal_data
	m in {"keep", "hash"}
	_usable(m)
}

mode := "keep" if not data.versahub.site.decision_log.personal_data

_usable("keep")

_usable("hash") if {
	is_string(data.versahub.decision_log.key)
	count(data.versahub.decision_log.key) >= 32
}

# the user names of one record: the user, the collaborators that are users, the directory
names contains n if {
	n := input.input.user.name
	is_string(n)
}

names contains c if {
	some c in input.input.spec.collaborators
	is_string(c)
	not startswith(c, "group:")
}

names contains u if {
	some u in input.input.directory.users
	is_string(u)
}

pseudonym[n] := concat("", ["user-", substring(crypto.hmac.sha256(n, data.versahub.decision_log.key), 0, 12)]) if {
	mode == "hash"
	some n in names
}

pseudonym[n] := sprintf("user-%d", [i + 1]) if {
	mode == "drop"
	ordered := sort(names)
	some i, n in ordered
}

mask contains {"op": "upsert", "path": "/input/user/name", "value": pseudonym[input.input.user.name]}

mask contains {"op": "upsert", "path": "/input/spec/collaborators", "value": renamed} if {
	mode != "keep"
	is_array(input.input.spec.collaborators)
	renamed := [_rename(c) | some c in input.input.spec.collaborators]
}

mask contains {"op": "upsert", "path": "/input/directory/users", "value": renamed} if {
	mode != "keep"
	is_array(input.input.directory.users)
	renamed := [_rename(u) | some u in input.input.directory.users]
}

mask contains {"op": "upsert", "path": concat("/", ["/result", kind]), "value": reduced} if {
	some kind in ["deny", "warn"]
	is_array(input.result[kind])
	reduced := [{k: v | some k in ["id", "severity", "title"]; v := f[k]} | some f in input.result[kind]]
}

mask contains {"op": "upsert", "path": "/input/origin/referrer", "value": short} if {
	ref := input.input.origin.referrer
	is_string(ref)
	short := _scheme_host(ref)
	short != ref
}

_rename(n) := pseudonym[n]

_rename(n) := n if not pseudonym[n]

default _scheme_host(_) := "(not a URL)"

_scheme_host(ref) := concat("", [parts[1], "://", parts[2]]) if {
	parts := regex.find_all_string_submatch_n(`^([A-Za-z][A-Za-z0-9+.-]*)://(?:[^/?#@]*@)?([^/?#@]*)`, ref, 1)[0]
}
