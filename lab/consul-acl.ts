/**
 * Consul ACLs in the lab (Lab.up({ acl: true })): every agent denies by default, each cluster is
 * bootstrapped once its servers elect, every agent gets a node-identity token as its agent token,
 * and nova-ha gets the least-privilege tokens of docs/consul-acl/, one per node and network, which
 * lab/nova-ha.ts writes into each node's nova-ha.conf.
 *
 * Tokens are kept in <run>/acl/ (0700, files 0600) and travel only in request headers and bodies
 * over the agents' unix sockets: never in argv, logs or errors.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentSocket } from './consul-config.js';
import { ConsulHttp, type ConsulResponse } from './consul-http.js';
import { sleep } from './shell.js';
import { CONSUL_NETWORKS, computeNames, controllerNames, REPO_ROOT, runDir, type ConsulNetwork, type LabSpec } from './topology.js';

export const POLICY_DIR = join(REPO_ROOT, 'docs', 'consul-acl');
/** What the per-node policy templates say where the node's name goes. */
const NODE_PLACEHOLDER = /NODE_NAME/g;
/** The node meta every lab agent carries (base.json): it reaches the catalog only through the agent's token. */
const ROLE_META = 'nova-ha-role';

type Role = 'controller' | 'compute';

/**
 * docs/consul-acl/ by role and cluster: the policy all nodes of the role share (if any) and the
 * template rendered once per node. docs/consul-acl/README.md says the same for operators.
 */
export const NOVA_HA_POLICIES: Readonly<Record<Role, Readonly<Record<ConsulNetwork, { readonly shared?: string; readonly perNode: string }>>>> = {
  controller: {
    mgmt: { shared: 'controller-mgmt.hcl', perNode: 'controller-node-mgmt.hcl' },
    storage: { shared: 'controller-storage.hcl', perNode: 'node-agent.hcl' },
    tenant: { shared: 'controller-tenant.hcl', perNode: 'node-agent.hcl' },
  },
  compute: {
    mgmt: { shared: 'compute-mgmt.hcl', perNode: 'compute-node-mgmt.hcl' },
    storage: { shared: 'compute-storage.hcl', perNode: 'node-agent.hcl' },
    tenant: { perNode: 'node-agent.hcl' },
  },
};

export const aclDir = (spec: LabSpec): string => join(runDir(spec), 'acl');
const managementTokenFile = (spec: LabSpec, network: ConsulNetwork): string => join(aclDir(spec), `management-${network}.token`);
const novaHaTokenFile = (spec: LabSpec, node: string, network: ConsulNetwork): string => join(aclDir(spec), `nova-ha-${node}-${network}.token`);

const roleOf = (node: string): Role => (node.startsWith('ctl') ? 'controller' : 'compute');

function readToken(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

function keepToken(spec: LabSpec, file: string, token: string): void {
  mkdirSync(aclDir(spec), { recursive: true, mode: 0o700 });
  writeFileSync(file, token, { mode: 0o600 });
}

/** Whether the lab runs with ACLs (its clusters were bootstrapped). */
export const labHasAcl = (spec: LabSpec): boolean => existsSync(aclDir(spec));

/** The cluster's bootstrap (global-management) token, for the lab's own calls; undefined in a lab without ACLs. */
export const managementToken = (spec: LabSpec, network: ConsulNetwork): string | undefined => readToken(managementTokenFile(spec, network));

/** nova-ha's least-privilege token of a node in one cluster; undefined in a lab without ACLs. */
export const novaHaToken = (spec: LabSpec, node: string, network: ConsulNetwork): string | undefined => readToken(novaHaTokenFile(spec, node, network));

function asManagement(spec: LabSpec, node: string, network: ConsulNetwork): ConsulHttp {
  const token = managementToken(spec, network);
  if (!token) throw new Error(`lab ${spec.prefix}: the ${network} cluster has no bootstrap token in ${aclDir(spec)}: was it brought up with ACLs (up --acl)?`);
  return new ConsulHttp(agentSocket(spec, node, network), `${spec.prefix} ${node}/${network}`, token);
}

/** Consul's answer in one line, for errors. */
const said = (response: ConsulResponse<unknown>): string => `${response.status} ${String(typeof response.body === 'string' ? response.body : JSON.stringify(response.body)).trim().split('\n')[0]}`;

async function putOk<T>(client: ConsulHttp, path: string, body: unknown, what: string): Promise<T> {
  const response = await client.put<T>(path, body);
  if (response.status !== 200) throw new Error(`consul ${client.label}: ${what} failed: ${said(response)}`);
  return response.body;
}

/**
 * Bootstraps every cluster's ACLs through a server as soon as it has a leader. Consul 1.8 refuses
 * for a moment after the election while the leader sets its ACL system up: retried until the deadline.
 */
export async function bootstrapClusters(spec: LabSpec, deadline: number): Promise<void> {
  for (const network of CONSUL_NETWORKS) {
    const server = new ConsulHttp(agentSocket(spec, controllerNames()[0]!, network), `${spec.prefix} ctl1/${network}`);
    for (;;) {
      let last: string;
      try {
        const response = await server.put<{ SecretID?: string }>('/v1/acl/bootstrap');
        const secret = response.status === 200 && typeof response.body === 'object' ? response.body.SecretID : undefined;
        if (secret) {
          keepToken(spec, managementTokenFile(spec, network), secret);
          break;
        }
        last = said(response);
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`lab ${spec.prefix}: cannot bootstrap the ACLs of the ${network} cluster (last answer: ${last}): see ${join(runDir(spec), 'logs', `ctl1-consul-${network}.log`)}`);
      await sleep(500);
    }
  }
}

/**
 * Gives each agent of these nodes its own token (a node identity: node:write on itself, read on
 * services), as an operator would with `consul acl set-agent-token agent`. Without it an agent
 * cannot sync its node meta or its checks to the catalog. The agents must have joined their
 * clusters: a client that knows no server yet cannot resolve any token, the bootstrap token
 * included, and answers 403 (retried until the deadline).
 */
export async function giveAgentTokens(spec: LabSpec, nodes: readonly string[], deadline: number): Promise<void> {
  for (const network of CONSUL_NETWORKS) {
    const server = asManagement(spec, controllerNames()[0]!, network);
    for (const node of nodes) {
      const token = await putOk<{ SecretID: string }>(server, '/v1/acl/token', { Description: `lab: agent token of ${node}`, NodeIdentities: [{ NodeName: node, Datacenter: network }] }, `creating the agent token of ${node}`);
      const agent = asManagement(spec, node, network);
      for (;;) {
        const response = await agent.put('/v1/agent/token/agent', { Token: token.SecretID });
        if (response.status === 200) break;
        if (response.status !== 403 || Date.now() > deadline) throw new Error(`consul ${agent.label}: setting the agent token of ${node} failed: ${said(response)}`);
        await sleep(250);
      }
    }
  }
}

/** Until every node's agent has synced its node meta to each catalog, i.e. its agent token works. */
export async function waitForAgentSync(spec: LabSpec, nodes: readonly string[], deadline: number): Promise<void> {
  for (const network of CONSUL_NETWORKS) {
    let missing: string[] = [...nodes];
    while (missing.length > 0) {
      const response = await asManagement(spec, controllerNames()[0]!, network).get<{ Node: string; Meta?: Record<string, string> | null }[]>('/v1/catalog/nodes?consistent').catch(() => undefined);
      if (response?.status === 200) {
        const synced = new Set(response.body.filter((n) => n.Meta?.[ROLE_META]).map((n) => n.Node));
        missing = nodes.filter((node) => !synced.has(node));
      }
      if (missing.length === 0) break;
      if (Date.now() > deadline) throw new Error(`lab ${spec.prefix}: ${missing.join(', ')} never synced to the ${network} catalog with its agent token (node meta missing): see their consul-${network} logs in ${join(runDir(spec), 'logs')}`);
      await sleep(500);
    }
  }
}

function policyRules(file: string, node?: string): string {
  const path = join(POLICY_DIR, file);
  let rules: string;
  try {
    rules = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read nova-ha's ACL policy ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'}): it ships in docs/consul-acl/`, { cause: error });
  }
  return node === undefined ? rules : rules.replace(NODE_PLACEHOLDER, node);
}

/**
 * nova-ha's policies from docs/consul-acl/ in each cluster (the shared ones once, the per-node
 * templates once per node), and one token per node and cluster with exactly its role's policies,
 * as docs/consul-acl/README.md tells operators to do.
 */
export async function createNovaHaTokens(spec: LabSpec): Promise<void> {
  const nodes = [...controllerNames(), ...computeNames(spec)];
  for (const network of CONSUL_NETWORKS) {
    const server = asManagement(spec, controllerNames()[0]!, network);
    for (const role of ['controller', 'compute'] as const) {
      const shared = NOVA_HA_POLICIES[role][network].shared;
      if (shared) await putOk(server, '/v1/acl/policy', { Name: `nova-ha-${role}`, Description: `nova-ha ${role} role (docs/consul-acl/${shared})`, Rules: policyRules(shared) }, `creating policy nova-ha-${role}`);
    }
    for (const node of nodes) {
      const { shared, perNode } = NOVA_HA_POLICIES[roleOf(node)][network];
      const own = `nova-ha-node-${node}`;
      await putOk(server, '/v1/acl/policy', { Name: own, Description: `nova-ha on ${node} (docs/consul-acl/${perNode})`, Rules: policyRules(perNode, node) }, `creating policy ${own}`);
      const policies = [...(shared ? [`nova-ha-${roleOf(node)}`] : []), own].map((Name) => ({ Name }));
      const token = await putOk<{ SecretID: string }>(server, '/v1/acl/token', { Description: `nova-ha on ${node} (${network})`, Policies: policies }, `creating nova-ha's token for ${node}`);
      keepToken(spec, novaHaTokenFile(spec, node, network), token.SecretID);
    }
  }
}
