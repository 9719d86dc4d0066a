# nova-ha, one compute's own rules in the management cluster: a template, rendered once per
# compute with its Consul node name ([DEFAULT] node_name) in place of the capitalised placeholder
# in the rules below (README.md). Attach it to that compute's [consul] mgmt_token together with
# compute-mgmt.hcl.

# The nova-ha-nova-compute check nova-ha registers in this agent's config (lib/systems/consul/fragments.ts,
# handlers/nova-compute-check.ts) carries this token, and the agent syncs it to the catalog with
# it: registering a node check needs node:write on the node. Without it the controllers never see
# the check, and nova-compute's state on the node stays unknown. The nova-ha-watchdog service
# (docs/fencing.md) needs the same to pass its TTL check, and node:read (part of write) for the
# consistent reads of this node's own health that decide whether it feeds its watchdog.
node "NODE_NAME" {
  policy = "write"
}

# The node's report on a repair it was asked for (handlers/remediate.ts, lib/recovery/node-repair.ts):
# refused and why, failed with its exit code, or what its own check found after the settle time.
# The controllers read it (lib/recovery/worker.ts) and, when it says the repair cannot help,
# escalate at once instead of waiting out repair_timeout. This one key only: a compute can write
# no other node's report and nothing else of nova-ha's; a report must also be signed with the
# HMAC key and answer a request the controller sent, and it can only bring forward the fence (or
# hold) the timeout would have reached. Without it the report is refused (logged on the node) and
# every repair waits out repair_timeout. Replace "nova-ha/" with your [consul] kv_prefix.
key "nova-ha/repair-reports/NODE_NAME" {
  policy = "write"
}

# install.sh reloads the agent after writing nova-ha's fragment (nova-ha agent-reload,
# cli/commands/agent.ts: agent/self needs read, agent/reload needs write). Not needed when you
# install with --no-reload and reload the agents yourself.
agent "NODE_NAME" {
  policy = "write"
}
