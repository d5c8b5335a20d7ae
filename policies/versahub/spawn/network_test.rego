package versahub.spawn_test

home_rw := {"volume": "home", "path": "/home/jovyan/work", "mode": "rw"}

shared_ro := {"volume": "ds101-shared", "path": "/home/jovyan/shared", "mode": "ro"}

test_internet_warns if {
	warn_messages(with_spec({"internet": true}), "internet-egress") == {concat("", [
		"This server can connect to any website on the internet, ",
		"so code in it could attack other sites or mine cryptocurrency with the hub's computers.",
	])}
}

test_no_internet_does_not_warn if {
	not "internet-egress" in warn_ids(base_input)
}

test_internet_with_mounts_warns_naming_the_volumes if {
	doc := with_spec({"internet": true, "mounts": [home_rw, shared_ro]})
	warn_messages(doc, "internet-data-exfiltration") == {concat("", [
		"This server can reach the internet and has these volumes mounted: \"ds101-shared\", \"home\", ",
		"so code in it could send your files to anyone.",
	])}
}

test_internet_without_mounts_does_not_warn_of_leaks if {
	not "internet-data-exfiltration" in warn_ids(with_spec({"internet": true}))
}

test_mounts_without_internet_do_not_warn_of_leaks if {
	not "internet-data-exfiltration" in warn_ids(with_spec({"mounts": [home_rw]}))
}
