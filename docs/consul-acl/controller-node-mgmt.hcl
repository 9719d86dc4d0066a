# nova-ha, one controller's own rules in the management cluster: a template, rendered once per
# controller with its Consul node name ([DEFAULT] node_name) in place of the capitalised
# placeholder in the rules below (README.md). Attach it to that controller's [consul] mgmt_token
# together with controller-mgmt.hcl.

# Sessions for the host locks and poller locks (lib/systems/consul/lock.ts, lib/systems/consul/poller-lock.ts;
# used by the workers, the power and Nova pollers, and fence, evacuate and unfence). A session
# belongs to the node of the agent that creates it: create, renew and destroy need session:write
# on this controller's own node, and on no other.
session "NODE_NAME" {
  policy = "write"
}

# The controller checks nova-ha registers in this agent's config (nova-ha-evaluate,
# nova-ha-nova-services, nova-ha-power: lib/systems/consul/fragments.ts) carry this token, and the agent
# syncs them to the catalog with it: registering a node check needs node:write on the node.
node "NODE_NAME" {
  policy = "write"
}

# install.sh reloads the agent after writing nova-ha's fragment (nova-ha agent-reload,
# cli/commands/agent.ts: agent/self needs read, agent/reload needs write). Not needed when you
# install with --no-reload and reload the agents yourself (on a compute).
# On a controller it also lets the workers ask this agent to join a host that Consul sees failed
# (agent/members needs node read, agent/join needs agent write: lib/systems/consul/rejoin.ts), so a mended
# link is seen within seconds instead of up to 30 s. Keep it on controllers.
agent "NODE_NAME" {
  policy = "write"
}
