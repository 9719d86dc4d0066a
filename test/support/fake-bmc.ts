/**
 * A simulation of the hosts' BMCs behind the effects the recovery code takes (read power, power
 * on, power off and verify), in memory, for unit tests; every call is recorded. Real BMCs
 * (ipmi_sim with ipmitool) run in the lab tests.
 */
import type { PowerState } from '../../lib/decision/model.js';
import type { PowerResult, VerifiedOff } from '../../lib/systems/power/ipmi.js';
import { Journal } from './journal.js';

/** How a BMC answers power off: it turns the host off and says so, never reports off, or stops answering. */
export type PowerOffBehaviour = 'verifies' | 'stays-on' | 'silent';

export class FakeBmc {
  readonly power = new Map<string, PowerState>();
  readonly powerOff = new Map<string, PowerOffBehaviour>();
  /** BMCs that refuse every request, with what ipmitool says (a wrong password, say). */
  readonly refusing = new Map<string, string>();

  constructor(readonly journal = new Journal()) {}

  calls(method: 'readPower' | 'powerOn' | 'powerOffVerified', host?: string): string[] {
    return this.journal.of('bmc', method).map((e) => e.args[0] as string).filter((h) => host === undefined || h === host);
  }

  async readPower(host: string): Promise<PowerState> {
    this.journal.add({ system: 'bmc', method: 'readPower', args: [host] });
    return this.power.get(host) ?? 'on';
  }

  /** A chassis power status read as lib/systems/power answers it: unknown, with the error, when the BMC refuses. */
  async readPowerResult(host: string): Promise<PowerResult> {
    this.journal.add({ system: 'bmc', method: 'readPower', args: [host] });
    const refusal = this.refusing.get(host);
    return refusal ? { state: 'unknown', error: refusal } : { state: this.power.get(host) ?? 'on' };
  }

  async powerOn(host: string): Promise<void> {
    this.journal.add({ system: 'bmc', method: 'powerOn', args: [host] });
    if ((this.powerOff.get(host) ?? 'verifies') === 'silent') throw new Error(`the BMC of ${host} did not accept power on`);
    this.power.set(host, 'on');
  }

  async powerOffVerified(host: string): Promise<VerifiedOff> {
    this.journal.add({ system: 'bmc', method: 'powerOffVerified', args: [host] });
    const behaviour = this.powerOff.get(host) ?? 'verifies';
    if (behaviour === 'verifies') {
      const already = this.power.get(host) === 'off';
      this.power.set(host, 'off');
      return { verified: true, after: 1, detail: already ? 'the BMC already reported power off' : 'power off sent; the BMC reported off after 1 ms' };
    }
    if (behaviour === 'silent') this.power.set(host, 'unknown');
    return { verified: false, after: 60_000, detail: `the BMC did not report power off within 60000 ms${behaviour === 'silent' ? ' (timed out)' : ''}` };
  }
}
