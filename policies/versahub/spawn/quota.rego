package versahub.spawn

import data.versahub.lib

# Group quotas (site.yaml accounting.quotas, docs/accounting.md): per calendar month, what a
# group's members may use together. The hub puts this month's usage of the user's groups
# that have a quota into input.usage.groups (hours). Over a quota, a new launch is warned
# about (action warn, the default) or refused (action deny).

# METADATA
# title: Group quotas
# description: Per group, the monthly limits (cpu_hours, memory_gib_hours, server_hours) and the action.
quotas := _obj(object.get(_site, "quotas", {}))

_usage_of(group) := _obj(object.get(_obj(object.get(_obj(object.get(input, "usage", {})), "groups", {})), group, {}))

# The quota keys a group is over: "cpu_hours" etc.
_over(group) := {key |
	quota := _obj(quotas[group])
	some key in ["cpu_hours", "memory_gib_hours", "server_hours"]
	is_number(quota[key])
	used := object.get(_usage_of(group), key, 0)
	is_number(used)
	used >= quota[key]
}

# METADATA
# title: Group quota used up (warning)
# description: A group of the user has used this month's quota; launching uses more.
# custom:
#   id: quota-exceeded
#   severity: medium
#   message: "Your group %q has used its monthly quota of %s; this server adds to it."
#   mitigation: Stop servers you do not need, or ask the hub administrators for more.
warn contains lib.finding(rego.metadata.rule(), [group, concat(", ", sort(_over(group)))]) if {
	some group in user_groups
	quotas[group]
	object.get(_obj(quotas[group]), "action", "warn") != "deny"
	count(_over(group)) > 0
}

# METADATA
# title: Group quota used up
# description: A group of the user has used this month's quota and the site refuses launches over it.
# custom:
#   id: quota-exhausted
#   severity: high
#   message: "Your group %q has used its monthly quota of %s; no new server can start this month."
#   mitigation: Ask the hub administrators to raise the quota, or wait for next month.
deny contains lib.finding(rego.metadata.rule(), [group, concat(", ", sort(_over(group)))]) if {
	some group in user_groups
	object.get(_obj(quotas[group]), "action", "warn") == "deny"
	count(_over(group)) > 0
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "quota"
