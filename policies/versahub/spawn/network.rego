package versahub.spawn

import data.versahub.lib

# METADATA
# title: Internet access
# description: >-
#   With internet access, code in the server can connect to any website: take
#   part in attacks on other sites or mine cryptocurrency on the institution's
#   machines. Building the image needs the internet; running it often does not.
# custom:
#   id: internet-egress
#   severity: medium
#   message: >-
#     This server can connect to any website on the internet, so code in it could attack other
#     sites or mine cryptocurrency with the hub's computers.
#   mitigation: >-
#     Turn internet access off unless the notebooks must download data while they run;
#     packages are installed when the image is built.
warn contains lib.finding(rego.metadata.rule(), []) if {
	input.spec.internet == true
}

# METADATA
# title: Files can leave through the internet
# description: >-
#   A server with both storage and internet access can copy that storage, for
#   instance the user's private files, to anywhere.
# custom:
#   id: internet-data-exfiltration
#   severity: high
#   message: >-
#     This server can reach the internet and has these volumes mounted: %s, so code in it
#     could send your files to anyone.
#   mitigation: "Turn internet access off, or mount only volumes that hold nothing private."
warn contains lib.finding(rego.metadata.rule(), [lib.quoted_list({m.volume | some m in mounts})]) if {
	input.spec.internet == true
	count(mounts) > 0
}

# Marks this file as loaded in full: see integrity.rego (policy-incomplete).
concerns contains "network"
