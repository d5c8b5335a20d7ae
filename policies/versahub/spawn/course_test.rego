package versahub.spawn_test

# The course ds101: its student server is spec 1111…, its teacher server 2222…; the
# spec is an untrusted repository with internet on and the course volume mounted, so
# several rules warn about it.
course_site := object.union(site, {
	"volumes": object.union(site.volumes, {"course-ds101": {
		"kind": "shared",
		"read": {"users": [], "groups": ["ds101-teachers", "ds101-students"]},
		"write": {"users": [], "groups": ["ds101-teachers"]},
	}}),
	"courses": {"ds101": {"roles": {
		"student": {"spec_id": "1111111111111111", "group": "ds101-students"},
		"teacher": {"spec_id": "2222222222222222", "group": "ds101-teachers"},
	}}},
})

course_input(spec_id, groups, mode) := object.union(base_input, {
	"spec": object.union(base_input.spec, {
		"repo": "https://codeberg.org/teacher/ds101-env",
		"source": {"scheme": "https", "host": "codeberg.org", "port": null},
		"spec_id": spec_id,
		"internet": true,
		"mounts": [{"volume": "course-ds101", "path": "/home/jovyan/course", "mode": mode}],
	}),
	"user": {"name": "sam", "groups": groups, "admin": false},
})

student_launch := course_input("1111111111111111", ["ds101-students"], "ro")

teacher_launch := course_input("2222222222222222", ["ds101-teachers"], "rw")

test_course_spec_warns_without_the_course if {
	ids := {f.id | some f in decide_on(student_launch, site).warn}
	"image-untrusted-repo" in ids
	"internet-egress" in ids
}

test_student_launching_their_course_server_sees_no_warning if {
	d := decide_on(student_launch, course_site)
	d.allowed
	d.warn == []
}

test_teacher_launching_their_course_server_sees_no_warning if {
	d := decide_on(teacher_launch, course_site)
	d.allowed
	d.warn == []
}

test_modified_course_spec_is_checked_like_any_other if {
	doc := course_input("3333333333333333", ["ds101-students"], "ro")
	ids := {f.id | some f in decide_on(doc, course_site).warn}
	"image-untrusted-repo" in ids
	"internet-egress" in ids
}

test_course_spec_of_another_role_is_not_trusted if {
	# a student launching the teacher's server: the write mount is denied, warnings shown
	doc := course_input("2222222222222222", ["ds101-students"], "rw")
	d := decide_on(doc, course_site)
	not d.allowed
	"volume-write-forbidden" in {f.id | some f in d.deny}
	"image-untrusted-repo" in {f.id | some f in d.warn}
}

test_course_spec_launched_by_an_outsider_warns if {
	doc := course_input("1111111111111111", ["other"], "ro")
	d := decide_on(doc, course_site)
	not d.allowed
	"volume-forbidden" in {f.id | some f in d.deny}
	"image-untrusted-repo" in {f.id | some f in d.warn}
}

test_course_server_from_an_outside_link_keeps_the_origin_warning if {
	doc := object.union(student_launch, {"origin": {"external": true, "referrer": "https://evil.example/"}})
	{f.id | some f in decide_on(doc, course_site).warn} == {"origin-external-link"}
}

test_course_trust_does_not_lift_a_denial if {
	doc := object.union(student_launch, {"spec": object.union(student_launch.spec, {"credentials": true})})
	d := decide_on(doc, course_site)
	not d.allowed
	"credentials-untrusted-forge" in {f.id | some f in d.deny}
}

test_malformed_course_data_trusts_nothing if {
	every bad in [
		"ds101",
		{"ds101": "x"},
		{"ds101": {"roles": "x"}},
		{"ds101": {"roles": {"student": {"spec_id": 1, "group": "ds101-students"}}}},
		{"ds101": {"roles": {"student": {"group": "ds101-students"}}}},
	] {
		"image-untrusted-repo" in {f.id | some f in decide_on(student_launch, object.union(object.remove(course_site, ["courses"]), {"courses": bad})).warn}
	}
}
