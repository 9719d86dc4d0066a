/**
 * The pacing of the workers' rejoin requests. What a join does to a real Consul cluster is tested
 * in the lab (test/lab/links.test.ts); here a stand-in agent only records the requests.
 */
import { describe, expect, it } from 'vitest';
import type { AgentMember, ConsulApi } from '../../lib/systems/consul/api.js';
import { rejoin, Rejoiner } from '../../lib/systems/consul/rejoin.js';
import { createLogger } from '../../lib/shared/log.js';
import type { Network } from '../../lib/decision/model.js';

interface StandInAgent {
  readonly api: ConsulApi;
  readonly joins: string[];
  /** Makes the next joins wait until release() (a host whose link is down answers nothing). */
  hold(): void;
  release(): void;
}

function standInAgent(members: AgentMember[], refuse?: { statusCode: number }): StandInAgent {
  const joins: string[] = [];
  let gate: { promise: Promise<void>; open: () => void } | undefined;
  const api = {
    agentMembers: async () => members,
    agentJoin: async (address: string) => {
      joins.push(address);
      await gate?.promise;
      if (refuse) throw Object.assign(new Error(`HTTP ${refuse.statusCode}`), refuse);
    },
  } as unknown as ConsulApi;
  return {
    api,
    joins,
    hold: () => {
      let open!: () => void;
      gate = { promise: new Promise<void>((resolve) => (open = resolve)), open };
    },
    release: () => gate?.open(),
  };
}

const CMP1: AgentMember = { Name: 'cmp1', Addr: '10.20.0.11', Port: 8311 };
const lines: string[] = [];
const log = createLogger({ component: 'test', stream: { write: (line: string) => lines.push(line) }, level: 'debug' });
const clustersOf = (agent: StandInAgent): Record<Network, ConsulApi> => ({ mgmt: agent.api, storage: agent.api, tenant: agent.api });
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('rejoin', () => {
  it("joins the member at the address and port in the agent's member list", async () => {
    const agent = standInAgent([CMP1, { Name: 'cmp2', Addr: 'fd00::12', Port: 8311 }]);
    expect(await rejoin(agent.api, 'cmp1')).toBe('joined');
    expect(await rejoin(agent.api, 'cmp2')).toBe('joined');
    expect(agent.joins).toEqual(['10.20.0.11:8311', '[fd00::12]:8311']);
  });

  it('says so when the host is not a member, without a join', async () => {
    const agent = standInAgent([CMP1]);
    expect(await rejoin(agent.api, 'cmp9')).toBe('not-a-member');
    expect(agent.joins).toEqual([]);
  });

  it('reads a failed join as unreachable, but a refused one (ACL) as an error', async () => {
    expect(await rejoin(standInAgent([CMP1], { statusCode: 500 }).api, 'cmp1')).toBe('unreachable');
    await expect(rejoin(standInAgent([CMP1], { statusCode: 403 }).api, 'cmp1')).rejects.toThrow('HTTP 403');
  });
});

describe('Rejoiner', () => {
  it('asks at most once per interval per network', async () => {
    const agent = standInAgent([CMP1]);
    const rejoiner = new Rejoiner(clustersOf(agent), 'cmp1', log, 3000);
    rejoiner.nudge(['storage'], 0);
    await rejoiner.settled();
    rejoiner.nudge(['storage'], 2999);
    await rejoiner.settled();
    expect(agent.joins).toHaveLength(1);
    rejoiner.nudge(['storage', 'tenant'], 3000);
    await rejoiner.settled();
    expect(agent.joins).toHaveLength(3);
  });

  it('keeps one request in flight per network, and settled() waits for it', async () => {
    const agent = standInAgent([CMP1]);
    agent.hold();
    const rejoiner = new Rejoiner(clustersOf(agent), 'cmp1', log, 3000);
    rejoiner.nudge(['storage'], 0);
    await flush();
    rejoiner.nudge(['storage'], 10_000);
    await flush();
    expect(agent.joins).toHaveLength(1);
    let settled = false;
    const done = rejoiner.settled().then(() => (settled = true));
    await flush();
    expect(settled).toBe(false);
    agent.release();
    await done;
    rejoiner.nudge(['storage'], 10_000);
    await rejoiner.settled();
    expect(agent.joins).toHaveLength(2);
  });

  it('logs a refused request as a warning that names the fix, and never throws', async () => {
    lines.length = 0;
    const rejoiner = new Rejoiner(clustersOf(standInAgent([CMP1], { statusCode: 403 })), 'cmp1', log, 3000);
    rejoiner.nudge(['tenant'], 0);
    await rejoiner.settled();
    const warning = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry['event'] === 'rejoin-failed');
    expect(warning).toMatchObject({ level: 'warning', network: 'tenant' });
    expect(String(warning!['fix'])).toContain('agent write');
  });
});
