# nova-ha, controller role, storage cluster: shared by every controller's [consul] storage_token,
# together with node-agent.hcl rendered for that controller.

# Every node's serfHealth in this cluster, read from the leader (catalog/nodes and health/state,
# lib/state/clusters.ts) by the evaluation, the workers and nova-ha status; and the controllers'
# checks watch on the storage agent, which carries this token (lib/systems/consul/fragments.ts). Consul 1.8
# silently leaves out what a token may not read, so without this every compute looks gone from
# the storage network. nova-ha reads no service here: no service rule. No KV, session or event
# either: nova-ha keeps its state and sends its requests in the management cluster only.
node_prefix "" {
  policy = "read"
}
