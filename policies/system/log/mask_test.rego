package system.log_test

import data.system.log

_key := "0123456789abcdef0123456789abcdef"

_event := {
	"input": {
		"spec": {"collaborators": ["bob", "group:ds101"], "mounts": [{"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}]},
		"user": {"name": "alice", "groups": ["ds101"], "admin": false},
		"origin": {"external": true, "referrer": "https://tok:secret@example.org/page?token=abc#x"},
		"directory": {"users": ["bob"], "groups": ["ds101"]},
	},
	"result": {
		"allowed": false,
		"deny": [{"id": "r1", "severity": "high", "title": "T", "message": "alice may not", "mitigation": "ask bob"}],
		"warn": [],
	},
}

_site(mode) := {"decision_log": {"personal_data": mode}}

_upsert(masks, path) := [m.value | some m in masks; m.op == "upsert"; m.path == path]

test_keep_changes_only_the_referrer_and_messages if {
	masks := log.mask with input as _event with data.versahub.site as _site("keep")
	count(masks) == 3
	_upsert(masks, "/input/origin/referrer") == ["https://example.org"]
	_upsert(masks, "/result/deny") == [[{"id": "r1", "severity": "high", "title": "T"}]]
	_upsert(masks, "/result/warn") == [[]]
}

test_no_site_data_keeps_names if {
	masks := log.mask with input as _event
	_upsert(masks, "/input/user/name") == []
}

test_hash_is_a_keyed_stable_pseudonym if {
	masks := log.mask with input as _event with data.versahub.site as _site("hash")
		with data.versahub.decision_log.key as _key
	[alice] := _upsert(masks, "/input/user/name")
	startswith(alice, "user-")
	count(alice) == 17
	alice == concat("", ["user-", substring(crypto.hmac.sha256("alice", _key), 0, 12)])
	[collab] := _upsert(masks, "/input/spec/collaborators")
	collab[1] == "group:ds101"
	[dir] := _upsert(masks, "/input/directory/users")
	dir[0] == collab[0]
	dir[0] != "bob"
	[deny] := _upsert(masks, "/result/deny")
	deny == [{"id": "r1", "severity": "high", "title": "T"}]
	_upsert(masks, "/result/warn") == [[]]
}

test_hash_without_a_key_drops if {
	masks := log.mask with input as _event with data.versahub.site as _site("hash")
	_upsert(masks, "/input/user/name") == ["user-1"]
	_upsert(masks, "/input/spec/collaborators") == [["user-2", "group:ds101"]]
}

test_hash_with_a_short_key_drops if {
	masks := log.mask with input as _event with data.versahub.site as _site("hash")
		with data.versahub.decision_log.key as "short"
	_upsert(masks, "/input/user/name") == ["user-1"]
}

test_drop_numbers_names_within_the_record if {
	masks := log.mask with input as _event with data.versahub.site as _site("drop")
	_upsert(masks, "/input/user/name") == ["user-1"]
	_upsert(masks, "/input/directory/users") == [["user-2"]]
}

test_unknown_mode_drops if {
	masks := log.mask with input as _event with data.versahub.site as _site("everything")
	_upsert(masks, "/input/user/name") == ["user-1"]
}

test_referrer_not_a_url if {
	event := json.patch(_event, [{"op": "replace", "path": "/input/origin/referrer", "value": "about:blank"}])
	masks := log.mask with input as event with data.versahub.site as _site("keep")
	_upsert(masks, "/input/origin/referrer") == ["(not a URL)"]
}

test_plain_referrer_is_left_alone if {
	event := json.patch(_event, [{"op": "replace", "path": "/input/origin/referrer", "value": "https://mybinder.org"}])
	masks := log.mask with input as event with data.versahub.site as _site("keep")
	_upsert(masks, "/input/origin/referrer") == []
}
