/**
 * Runs lib/nova's client inside the lab's controller namespace and prints one JSON line: the
 * lab tests stay in the root namespace and spawn this through `ip netns exec <prefix>-ctl1`.
 *
 *   nova-probe.ts PREFIX COMMAND [ARGS]
 *   env: NOVA_PROBE_AUTH=password|appcred, NOVA_PROBE_STATE_DIR (token cache), NOVA_PROBE_FLOOR
 *        (microversion_floor), NOVA_PROBE_NEWEST (pretend nova-ha knows microversions up to this)
 *
 * Output, exit 0 either way: {"result": ..., "events": [log event names], "ms": N}, or
 * {"error": "...", "name": "...", "status": N, "requestId": "..."} when the client threw.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../../lib/config/load.js';
import { createLogger } from '../../../lib/shared/log.js';
import { NovaClient, NovaHttpError } from '../../../lib/systems/nova/index.js';
import { runDir } from '../../../lab/topology.js';

const [prefix, command, ...args] = process.argv.slice(2);
if (!prefix || !command) {
  console.error('usage: nova-probe.ts PREFIX COMMAND [ARGS]');
  process.exit(2);
}
const novaDir = join(runDir({ prefix, computes: 0 }), 'nova');
const admin = JSON.parse(readFileSync(join(novaDir, 'admin.json'), 'utf8')) as Record<string, string>;
const auth = process.env['NOVA_PROBE_AUTH'] ?? 'password';
const stateDir = process.env['NOVA_PROBE_STATE_DIR'] ?? join(novaDir, 'probe-state');

function novaSection(): string {
  const lines = [`auth_url = ${admin['auth_url']}`, `region_name = ${admin['region_name']}`, `interface = ${admin['interface']}`, 'timeout = 20s'];
  if (auth === 'appcred') {
    const cred = JSON.parse(readFileSync(join(novaDir, 'appcred.json'), 'utf8')) as Record<string, string>;
    lines.push('auth_type = v3applicationcredential', `application_credential_id = ${cred['application_credential_id']}`, `application_credential_secret = ${cred['application_credential_secret']}`);
  } else {
    lines.push('auth_type = password', `username = ${admin['username']}`, `password = ${admin['password']}`, `user_domain_name = ${admin['user_domain_name']}`, `project_name = ${admin['project_name']}`, `project_domain_name = ${admin['project_domain_name']}`);
  }
  if (process.env['NOVA_PROBE_FLOOR']) lines.push(`microversion_floor = ${process.env['NOVA_PROBE_FLOOR']}`);
  return lines.join('\n');
}

const { config } = parseConfig(`[DEFAULT]\nrole = controller\nstate_dir = ${stateDir}\n[nova]\n${novaSection()}\n`, 'probe');
const events: string[] = [];
const lines: string[] = [];
const logger = createLogger({ component: 'probe', level: 'debug', stream: { write: (line: string) => { lines.push(line); events.push((JSON.parse(line) as { event: string }).event); } } });
const newest = process.env['NOVA_PROBE_NEWEST'];
const client = NovaClient.fromConfig(config!, { logger, retry: { minTimeoutMs: 200, maxTimeoutMs: 2000 }, ...(newest ? { newestKnown: newest } : {}) });

/** Polls each server until it is ACTIVE with no task on a host other than fromHost (after an evacuation or a live migration). */
async function waitEvacuated(fromHost: string, timeoutS: number, ids: string[]): Promise<Record<string, { host: string | null; status: string; seconds: number }>> {
  const started = Date.now();
  const done: Record<string, { host: string | null; status: string; seconds: number }> = {};
  while (Object.keys(done).length < ids.length) {
    for (const id of ids.filter((i) => !done[i])) {
      const server = await client.getServer(id);
      if (server.status === 'ERROR') throw new Error(`server ${id} went to ERROR while evacuating from ${fromHost}`);
      if (server.host !== fromHost && server.status === 'ACTIVE' && server.taskState === null) done[id] = { host: server.host, status: server.status, seconds: (Date.now() - started) / 1000 };
    }
    if (Date.now() - started > timeoutS * 1000) throw new Error(`not evacuated from ${fromHost} after ${timeoutS} s: ${ids.filter((i) => !done[i]).join(' ')}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return done;
}

async function run(): Promise<unknown> {
  switch (command) {
    case 'negotiate':
      return { microversion: await client.microversion(), endpoint: await client.endpoint() };
    case 'services':
      return client.listComputeServices(args[0]);
    case 'servers':
      return client.listServersOnHost(args[0]!, args[1] ? Number(args[1]) : undefined);
    case 'server':
      return client.getServer(args[0]!);
    case 'force-down': {
      const service = await client.getComputeService(args[0]!);
      return client.forceDown(service.id, args[1] !== 'false');
    }
    case 'disable':
      return client.disableService((await client.getComputeService(args[0]!)).id, args[1] ?? 'nova-ha lab test');
    case 'enable':
      return client.enableService((await client.getComputeService(args[0]!)).id);
    case 'evacuate': {
      const [fromHost, ...ids] = args;
      return Promise.all(ids.map((id) => client.evacuate(id, { fromHost: fromHost! }).then((r) => ({ id, ...r }))));
    }
    case 'live-migrate': {
      const [fromHost, ...ids] = args;
      return Promise.all(ids.map((id) => client.liveMigrate(id, { fromHost: fromHost! }).then((r) => ({ id, ...r }))));
    }
    case 'wait-evacuated': {
      const [fromHost, timeoutS, ...ids] = args;
      return waitEvacuated(fromHost!, Number(timeoutS), ids);
    }
    case 'migrations':
      return client.listMigrations({ ...(args[0] ? { sourceCompute: args[0] } : {}), ...(args[1] ? { type: args[1] } : {}) });
    case 'actions':
      return client.listServerActions(args[0]!);
    case 'log-lines':
      await client.listComputeServices();
      return lines;
    default:
      throw new Error(`unknown probe command ${command}`);
  }
}

const started = Date.now();
try {
  const result = await run();
  console.log(JSON.stringify({ result, events, ms: Date.now() - started }));
} catch (error) {
  const e = error as Error;
  console.log(JSON.stringify({ error: e.message, name: e.name, ...(error instanceof NovaHttpError ? { status: error.status, requestId: error.requestId } : {}), events, ms: Date.now() - started }));
}
