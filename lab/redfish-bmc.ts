/**
 * A small HTTPS stand-in for a BMC's Redfish service, for one lab compute: there is no
 * installable Redfish BMC emulator (shared docs/fencing-lab.md section 6). It answers exactly what
 * fence_redfish asks (GET /redfish/v1, the Systems collection, the system's PowerState and its
 * Reset action; POST ComputerSystem.Reset) with Basic auth, and powers the lab host off and on
 * the way the lab's BMC does: through that BMC, with the real ipmitool from the BMC's own
 * namespace (the password in the environment, never in argv). Runs in the compute's bmcN
 * namespace on its out-of-band address.
 *
 *   ip netns exec P-bmcN node --import tsx lab/redfish-bmc.ts --address A --port 443 --cert C --key K
 *        --password-file RUN/redfish.password --ipmi-password-file RUN/ipmi.password --log FILE
 *
 * Log lines: "<ISO time> <METHOD> <path> <status> [ResetType]"; never a header or a password.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { IPMITOOL_OPTIONS, IPMI_USER } from './bmc.js';

const { values } = parseArgs({ options: { address: { type: 'string' }, port: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, 'password-file': { type: 'string' }, 'ipmi-password-file': { type: 'string' }, log: { type: 'string' } } });
const address = values.address!;
const port = Number(values.port ?? 443);
const user = 'nova-ha';
const password = readFileSync(values['password-file']!, 'utf8').trim();
const ipmiPassword = readFileSync(values['ipmi-password-file']!, 'utf8').trim();
const logFile = values.log!;
const SYSTEM = '/redfish/v1/Systems/1';
const RESET = `${SYSTEM}/Actions/ComputerSystem.Reset`;
const expected = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const log = (line: string): void => appendFileSync(logFile, `${new Date().toISOString()} ${line}\n`);

/** The lab BMC of this host, asked from its own namespace (its own address: never leaves the namespace). */
function ipmi(...args: string[]): { ok: boolean; out: string } {
  const result = spawnSync('ipmitool', [...IPMITOOL_OPTIONS, '-H', address, '-U', IPMI_USER, '-E', 'chassis', 'power', ...args], { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', IPMI_PASSWORD: ipmiPassword }, encoding: 'utf8', timeout: 10_000 });
  return { ok: result.status === 0, out: `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() };
}

function powerState(): 'On' | 'Off' | undefined {
  const status = ipmi('status');
  const match = /Chassis Power is (on|off)/.exec(status.out);
  return match ? (match[1] === 'on' ? 'On' : 'Off') : undefined;
}

const RESET_TO_IPMI: Record<string, string> = { On: 'on', ForceOn: 'on', ForceOff: 'off', GracefulShutdown: 'off', ForceRestart: 'cycle', GracefulRestart: 'cycle', PowerCycle: 'cycle' };

createServer({ key: readFileSync(values.key!), cert: readFileSync(values.cert!) }, (req, res) => {
  const send = (code: number, body?: object, note = ''): void => {
    res.writeHead(code, { 'Content-Type': 'application/json' });
    res.end(body ? JSON.stringify(body) : '');
    log(`${req.method} ${req.url} ${code}${note ? ` ${note}` : ''}`);
  };
  if (req.headers.authorization !== expected) return send(401, { error: { message: 'unauthorized' } });
  let body = '';
  req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
  req.on('end', () => {
    if (req.method === 'GET' && req.url === '/redfish/v1') return send(200, { Systems: { '@odata.id': '/redfish/v1/Systems' } });
    if (req.method === 'GET' && req.url === '/redfish/v1/Systems') return send(200, { Members: [{ '@odata.id': SYSTEM }] });
    if (req.method === 'GET' && req.url === SYSTEM) {
      const state = powerState();
      if (!state) return send(503, { error: { message: 'the BMC does not answer' } });
      return send(200, { PowerState: state, Actions: { '#ComputerSystem.Reset': { target: RESET } } });
    }
    if (req.method === 'POST' && req.url === RESET) {
      let type: string | undefined;
      try {
        type = (JSON.parse(body) as { ResetType?: string }).ResetType;
      } catch {
        type = undefined;
      }
      const command = type ? RESET_TO_IPMI[type] : undefined;
      if (!command) return send(400, { error: { message: `unsupported ResetType ${type}` } }, String(type));
      const done = ipmi(command);
      return done.ok ? send(204, undefined, type) : send(503, { error: { message: 'the BMC did not accept it' } }, type);
    }
    send(404, { error: { message: 'not found' } });
  });
}).listen(port, address, () => log(`listening on ${address}:${port}`));

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
