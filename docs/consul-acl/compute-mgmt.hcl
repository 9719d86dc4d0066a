# nova-ha, compute role, management cluster: shared by every compute's [consul] mgmt_token,
# together with compute-node-mgmt.hcl rendered for that compute.

# The controllers' repair requests: the event watch on the compute's mgmt agent
# (lib/systems/consul/fragments.ts, handler handlers/remediate.ts) carries this token, and Consul lists a
# user event only to a token that may read it. Without it the watch never sees a request, and
# storage or nova-compute repairs fail into fencing. Read only: a compute must not be able to
# ask another compute (or itself) for a repair; the HMAC key guards the payload besides.
event "nova-ha-remediate" {
  policy = "read"
}
