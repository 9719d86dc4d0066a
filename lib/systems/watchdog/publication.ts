/**
 * What a compute tells the controllers about its watchdog, in the output of its nova-ha-watchdog
 * check: readable in the Consul UI, and parsed by the controllers. Only a passing check whose
 * output parses counts as armed.
 */

export interface Armed {
  readonly timeoutMs: number;
  readonly device: string;
  /** The lab's simulated watchdog (a FIFO read by a process that powers the lab host off), never a real one. */
  readonly simulation: boolean;
}

export function armedOutput(armed: Armed): string {
  return `armed timeout_ms=${armed.timeoutMs} device=${armed.device}${armed.simulation ? ' simulation=yes' : ''}: fed while a leader of mgmt or storage sees this node alive`;
}

/** The timeout an "armed" output publishes; undefined for anything else. */
export function parseArmedOutput(output: string): { timeoutMs: number } | undefined {
  const match = /^armed timeout_ms=(\d+)\b/.exec(output.trim());
  if (!match) return undefined;
  const timeoutMs = Number(match[1]);
  return Number.isSafeInteger(timeoutMs) && timeoutMs > 0 ? { timeoutMs } : undefined;
}
