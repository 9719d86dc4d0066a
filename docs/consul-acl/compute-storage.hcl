# nova-ha, compute role, storage cluster: shared by every compute's [consul] storage_token,
# together with node-agent.hcl rendered for that compute.

# After a storage repair the node checks its own storage path (lib/recovery/node-repair.ts): it
# takes the storage cluster's servers from its own storage agent's member list
# (/v1/agent/members, which Consul filters by node read) and connects to each one's RPC port from
# its storage address. Read only, and nothing the node does not already know: every member of a
# gossip pool learns every other member's name and address, and keeps them in its serf snapshot.
# Without it the node sees no server, reports "could not be checked" and the controller waits out
# repair_timeout as before.
node_prefix "" {
  policy = "read"
}
