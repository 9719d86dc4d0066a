# nova-ha, controller role, management cluster: shared by every controller's [consul] mgmt_token,
# together with controller-node-mgmt.hcl rendered for that controller. Replace "nova-ha/" with
# your [consul] kv_prefix followed by a slash.

# Every node and its node checks (serfHealth, nova-ha-nova-compute, _node_maintenance), read from
# the leader (catalog/nodes and health/state, lib/state/clusters.ts) by the evaluation
# (handlers/evaluate.ts, handlers/watch-checks.ts), the workers (handlers/worker.ts), the power
# poller's host list (lib/state/poll-targets.ts) and nova-ha status; and the controllers' checks watch,
# which carries this token (lib/systems/consul/fragments.ts). Consul 1.8 silently leaves out what a token
# may not read, so without this nova-ha sees an empty cluster, not an error. nova-ha reads no
# service and no service check: no service rule.
node_prefix "" {
  policy = "read"
}

# nova-ha's state (lib/state/records.ts): host records, open incidents and their history, the host
# locks and poller locks (acquired with a session), maintenance and pause flags, the power and
# Nova poller documents, notification dedupe markers. Written by the evaluation, the workers,
# the pollers (handlers/power-check.ts, handlers/nova-services-check.ts) and the operator CLI
# (fence, evacuate, unfence, maintenance, pause, resume); and nova-ha doctor's records (its clock
# offsets and Nova's answers to its dry requests, under doctor/), written by handlers/doctor-check.ts
# and the CLI.
key_prefix "nova-ha/" {
  policy = "write"
}

# The signed repair request to a compute's remediation handler, fired by the worker
# (lib/recovery/effects.ts consulHands). Controllers only fire it; reading it is the computes' part.
event "nova-ha-remediate" {
  policy = "write"
}
