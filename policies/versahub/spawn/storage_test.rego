package versahub.spawn_test

mount(volume, mode) := {"volume": volume, "path": sprintf("/home/jovyan/%s", [volume]), "mode": mode}

test_read_write_mount_warns if {
	warn_messages(with_spec({"mounts": [mount("home", "rw")]}), "storage-read-write") == {
		concat("", [
			"The volume \"home\" is mounted read-write at /home/jovyan/home, ",
			"so code in this server could change or delete its files.",
		]),
	}
}

test_read_only_mount_does_not_warn if {
	doc := with_spec({"mounts": [mount("home", "ro"), mount("ds101-shared", "ro")]})
	not "storage-read-write" in warn_ids(doc)
	decide(doc).allowed
}

test_unknown_volume_is_denied if {
	deny_messages(with_spec({"mounts": [mount("scratch", "ro")]}), "volume-unknown") == {
		"There is no volume called \"scratch\" on this hub.",
	}
}

test_known_volume_is_not_unknown if {
	not "volume-unknown" in deny_ids(with_spec({"mounts": [mount("home", "ro")]}))
}

test_every_volume_is_unknown_without_site_volumes if {
	ids := {f.id | some f in decide_on(with_spec({"mounts": [mount("home", "ro")]}), {}).deny}
	"volume-unknown" in ids
}

test_volume_without_read_access_is_denied if {
	doc := with_spec({"mounts": [mount("archive", "ro")]})
	deny_messages(doc, "volume-forbidden") == {"You are not allowed to use the volume \"archive\"."}
	not "volume-write-forbidden" in deny_ids(with_spec({"mounts": [mount("archive", "rw")]}))
}

test_volume_read_access_by_user_or_group if {
	not "volume-forbidden" in deny_ids(with_spec({"mounts": [mount("ds101-shared", "ro")]}))
	carol := as_user(with_spec({"mounts": [mount("archive", "ro")]}), {"name": "carol", "groups": []})
	not "volume-forbidden" in deny_ids(carol)
}

test_volume_write_without_write_access_is_denied if {
	deny_messages(with_spec({"mounts": [mount("ds101-shared", "rw")]}), "volume-write-forbidden") == {
		"You may only read the volume \"ds101-shared\", but it is mounted read-write.",
	}
}

test_volume_write_access_by_group_implies_read if {
	teacher := as_user(with_spec({"mounts": [mount("ds101-shared", "rw")]}), {"name": "tom", "groups": ["ds101-teachers"]})
	ids := deny_ids(teacher)
	not "volume-forbidden" in ids
	not "volume-write-forbidden" in ids
}

test_star_grants_everyone_write if {
	not "volume-write-forbidden" in deny_ids(with_spec({"mounts": [mount("home", "rw")]}))
}

test_malformed_volume_entries_grant_nothing if {
	broken := object.union(site, {"volumes": {
		"odd": "not an object",
		"bad-acl": {"read": ["alice"], "write": {"users": "*"}},
	}})
	ids := {f.id | some f in decide_on(with_spec({"mounts": [mount("odd", "ro"), mount("bad-acl", "ro")]}), broken).deny}
	"volume-forbidden" in ids
}
