package versahub.spawn_test

test_collaborators_warn if {
	warn_messages(with_spec({"collaborators": ["bob", "group:ds101"]}), "collaborators-act-as-you") == {
		"You are sharing this server with \"bob\", \"group:ds101\", and anyone you add acts as you inside this server.",
	}
}

test_no_collaborators_do_not_warn if {
	not "collaborators-act-as-you" in warn_ids(base_input)
}

test_known_collaborators_are_allowed if {
	doc := with_spec({"collaborators": ["bob", "group:ds101"]})
	not "collaborator-unknown" in deny_ids(doc)
	decide(doc).allowed
}

test_unknown_user_and_group_are_denied if {
	deny_messages(with_spec({"collaborators": ["bobb", "group:ds999", "group:"]}), "collaborator-unknown") == {
		"The collaborator \"bobb\" does not exist on this hub.",
		"The collaborator \"group:ds999\" does not exist on this hub.",
		"The collaborator \"group:\" does not exist on this hub.",
	}
}

test_user_name_is_not_a_group_name if {
	# "staff" exists as a group, not as a user.
	"collaborator-unknown" in deny_ids(with_spec({"collaborators": ["staff"]}))
}

test_collaborators_unknown_without_directory if {
	doc := json.remove(with_spec({"collaborators": ["bob"]}), ["directory"])
	"collaborator-unknown" in deny_ids(doc)
}

test_group_user_is_not_member_of_is_denied if {
	deny_messages(with_spec({"collaborators": ["group:ds101-teachers"]}), "collaborator-group-forbidden") == {
		"You are not a member of the group \"ds101-teachers\", so you cannot share this server with it.",
	}
}

test_group_user_is_member_of_is_allowed if {
	not "collaborator-group-forbidden" in deny_ids(with_spec({"collaborators": ["group:ds101"]}))
}

test_admin_may_share_with_any_group if {
	doc := object.union(with_spec({"collaborators": ["group:ds101-teachers"]}), {"user": {"admin": true}})
	not "collaborator-group-forbidden" in deny_ids(doc)
}

test_site_may_allow_any_group if {
	doc := with_spec({"collaborators": ["group:ds101-teachers"]})
	ids := {f.id | some f in decide_on(doc, object.union(site, {"share": {"groups": "any"}})).deny}
	not "collaborator-group-forbidden" in ids
}

test_member_rule_is_the_default if {
	doc := with_spec({"collaborators": ["group:ds101-teachers"]})
	ids := {f.id | some f in decide_on(doc, json.remove(site, ["share"])).deny}
	"collaborator-group-forbidden" in ids
}
