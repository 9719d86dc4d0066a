# nova-ha, one node's own rule in the storage and tenant clusters, for both roles: a template,
# rendered once per node and cluster with the node's Consul node name ([DEFAULT] node_name) in
# place of the capitalised placeholder in the rule below (README.md). Attach it to that node's
# [consul] storage_token and tenant_token (on a controller together with controller-storage.hcl
# or controller-tenant.hcl). A compute's tenant token carries this policy alone, and its storage
# token this one with compute-storage.hcl: nova-ha's compute role calls nothing else there.

# install.sh reloads the agent after writing nova-ha's fragment (nova-ha agent-reload,
# cli/commands/agent.ts: agent/self needs read, agent/reload needs write). Not needed when you
# install with --no-reload and reload the agents yourself (on a compute).
# On a controller it also lets the workers ask this agent to join a host that Consul sees failed
# (agent/members needs node read, agent/join needs agent write: lib/systems/consul/rejoin.ts), so a mended
# link is seen within seconds instead of up to 30 s. Keep it on controllers.
agent "NODE_NAME" {
  policy = "write"
}

# The watchdog service of a compute (docs/fencing.md) feeds its watchdog while a leader of mgmt or
# storage answers that this node is alive: a consistent read of this node's own health, here
# through the storage agent. Without it the storage cluster never counts and only mgmt can keep
# the watchdog fed. Harmless on a controller, whose token reads every node anyway.
node "NODE_NAME" {
  policy = "read"
}
