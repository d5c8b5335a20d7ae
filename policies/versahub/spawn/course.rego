package versahub.spawn

# Courses (docs/lti.md): `versahub course create` records a course; its environment as each
# role launches it (the course volume read-write for teachers, read-only for students) is
# rendered into the site data with its spec_id and the group of that role. That spec is
# approved by the course's teacher: its members see no warning about it, except warnings
# about where the request came from. A spec changed in any way has another spec_id and is
# judged like any other launch; a user outside the role's group gets every warning; the
# deny rules apply to course servers as to any other.

# METADATA
# title: Courses
# description: Each live course's trusted servers by role (spec_id and group), from the site data.
courses := _obj(object.get(_site, "courses", {}))

# METADATA
# title: Course server
# description: >-
#   True when the spec is exactly the server a course gives one of its roles and the
#   user is a member of that role's group.
course_server if {
	some course in courses
	some role in _obj(object.get(_obj(course), "roles", {}))
	is_string(role.spec_id)
	input.spec.spec_id == role.spec_id
	role.group in user_groups
}

# METADATA
# title: Shown warnings
# description: >-
#   The warnings of the decision: all of them, except that a course's own server launched
#   by a member of its role's group keeps only the warnings about the request's origin.
shown_warn contains w if {
	some w in warn
	not course_server
}

shown_warn contains w if {
	some w in warn
	course_server
	startswith(w.id, "origin-")
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "course"
