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

mount_at(volume, path, mode) := {"volume": volume, "path": path, "mode": mode}

protected_messages(path) := deny_messages(with_spec({"mounts": [mount_at("home", path, "ro")]}), "storage-protected-path")

test_mount_over_the_repository_folder_is_denied if {
	doc := with_spec({"mounts": [mount_at("home", "/srv/repo", "rw")]})
	d := decide(doc)
	d.allowed == false
	{f | some f in d.deny; f.id == "storage-protected-path"} == {{
		"id": "storage-protected-path",
		"severity": "high",
		"title": "Mount over the image's own files",
		"message": concat("", [
			"The volume \"home\" cannot be mounted at /srv/repo, because it would cover ",
			"/srv/repo, which this server needs to run.",
		]),
		"mitigation": concat("", [
			"Mount the volume in the home folder instead, for example at /home/jovyan/data; ",
			"the repository's files are copied into your project folder there.",
		]),
	}}
}

test_mounts_inside_or_above_the_repository_folder_are_denied if {
	every path in ["/srv/repo/data", "/srv", "/srv//repo/", "/srv/./repo", "srv/repo"] {
		count(protected_messages(path)) == 1
	}
}

test_mount_above_several_protected_paths_names_them_all if {
	protected_messages("/srv") == {concat("", [
		"The volume \"home\" cannot be mounted at /srv, because it would cover ",
		"/srv/conda, /srv/julia, /srv/npm, /srv/repo, /srv/venv, which this server needs to run.",
	])}
}

test_mounts_over_the_image_software_are_denied if {
	every path in [
		"/srv/conda", "/srv/conda/envs/notebook", "/opt/conda", "/opt", "/usr", "/usr/local/bin",
		"/etc", "/bin", "/lib", "/lib64", "/sbin", "/var", "/var/lib/dpkg", "/proc", "/sys",
		"/dev", "/run", "/root", "/",
	] {
		count(protected_messages(path)) == 1
	}
}

test_a_path_that_climbs_is_denied if {
	msgs := protected_messages("/home/jovyan/../../srv/repo")
	count(msgs) == 1
	some msg in msgs
	contains(msg, "/srv/repo")
}

test_data_folders_are_not_protected if {
	every path in [
		"/home/jovyan", "/home/jovyan/work", "/home/jovyan/.local/bin", "/srv/data",
		"/srv/repository", "/opt/data", "/mnt/shared", "/tmp/scratch", "/data",
	] {
		protected_messages(path) == set()
	}
	decide(with_spec({"mounts": [mount_at("home", "/srv/data", "ro")]})).allowed
}

test_the_site_repository_folder_is_protected if {
	moved := object.union(site, {"repo_dir": "/workspace/repo"})
	denied := decide_on(with_spec({"mounts": [mount_at("home", "/workspace", "ro")]}), moved)
	"storage-protected-path" in {f.id | some f in denied.deny}
	still := decide_on(with_spec({"mounts": [mount_at("home", "/usr", "ro")]}), moved)
	"storage-protected-path" in {f.id | some f in still.deny}
}

test_site_protected_paths_replace_the_built_in_list if {
	custom := object.union(site, {"protected_paths": ["/data/models", 7]})
	models := decide_on(with_spec({"mounts": [mount_at("home", "/data/models/x", "ro")]}), custom)
	"storage-protected-path" in {f.id | some f in models.deny}
	usr := decide_on(with_spec({"mounts": [mount_at("home", "/usr/share/data", "ro")]}), custom)
	not "storage-protected-path" in {f.id | some f in usr.deny}
	repo := decide_on(with_spec({"mounts": [mount_at("home", "/srv/repo", "ro")]}), custom)
	"storage-protected-path" in {f.id | some f in repo.deny}
}

test_defaults_without_site_data if {
	bad_repo_dir := object.union(site, {"repo_dir": 42})
	d := decide_on(with_spec({"mounts": [mount_at("home", "/srv/repo", "ro")]}), bad_repo_dir)
	"storage-protected-path" in {f.id | some f in d.deny}
	e := decide_on(with_spec({"mounts": [mount_at("home", "/srv/conda", "ro")]}), {})
	"storage-protected-path" in {f.id | some f in e.deny}
}

# The constant of the quick test is the built-in list, normalised.
test_image_text_is_the_image_paths if {
	data.versahub.spawn._image_text == concat("\n", [concat("", [substring(p, 1, -1), "/"]) | some p in data.versahub.spawn._image_paths])
}
