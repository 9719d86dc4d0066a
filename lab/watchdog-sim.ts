/**
 * A SIMULATED watchdog for one lab compute. These machines have no watchdog device of any kind
 * and a real reset would take the whole machine down (shared docs/fencing-lab.md section 3), so
 * this process plays the watchdog hardware: it reads a FIFO with the kernel watchdog protocol
 * (lib/systems/watchdog/device.ts: any byte feeds it, 'V' then close disarms it, a close without
 * 'V' leaves it counting), and when it is armed and not fed for its timeout it performs the lab's
 * power-off of the host, as its BMC does (SIGTERM to the host's power keeper, which kills
 * everything in the host's namespace). It runs in the root namespace, outside the host it
 * resets, and touches no network.
 *
 *   node --import tsx lab/watchdog-sim.ts --fifo PATH --timeout-ms N --keeper-record RUN/pids/cmpN-host.pid --log FILE
 *
 * Log lines: "<ISO time> <event> <detail>", events armed, disarmed, left-armed, reset.
 */
import { appendFileSync, closeSync, constants, openSync, readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { fifo: { type: 'string' }, 'timeout-ms': { type: 'string' }, 'keeper-record': { type: 'string' }, log: { type: 'string' } } });
const fifo = values.fifo!;
const timeoutMs = Number(values['timeout-ms']);
const keeperRecord = values['keeper-record']!;
const logFile = values.log!;
if (!fifo || !Number.isFinite(timeoutMs) || timeoutMs <= 0 || !keeperRecord || !logFile) throw new Error('usage: watchdog-sim.ts --fifo PATH --timeout-ms N --keeper-record FILE --log FILE');

const log = (event: string, detail = ''): void => appendFileSync(logFile, `${new Date().toISOString()} ${event} ${detail}\n`);

let armed = false;
let lastFeed = 0;
let magic = false;

/** The lab's power-off of the host, exactly as its BMC does it: SIGTERM to the keeper, after checking its start time. */
function powerOff(): string {
  let text: string;
  try {
    text = readFileSync(keeperRecord, 'utf8');
  } catch {
    return 'host already off (no keeper record)';
  }
  const [pid, startTime] = text.trim().split(/\s+/).map(Number);
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return `host already off (keeper ${pid} gone)`;
  }
  if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]) !== startTime) return `host already off (pid ${pid} is another process now)`;
  process.kill(pid!, 'SIGTERM');
  return `SIGTERM to the host's power keeper ${pid}`;
}

setInterval(() => {
  if (armed && Date.now() - lastFeed > timeoutMs) {
    armed = false;
    log('reset', `simulated watchdog reset: not fed for ${Date.now() - lastFeed} ms (timeout ${timeoutMs} ms); ${powerOff()}`);
  }
}, 50);

/** One writer's session on the FIFO: bytes feed, EOF ends it (disarmed if the last byte was 'V'). */
function listen(): void {
  // Non-blocking open succeeds with no writer; a read then sees EOF at once, so poll for a writer.
  const fd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });
  let got = false;
  socket.on('data', (chunk: Buffer) => {
    got = true;
    if (!armed) log('armed', `timeout ${timeoutMs} ms`);
    armed = true;
    lastFeed = Date.now();
    magic = chunk.at(-1) === 0x56;
  });
  socket.on('end', () => {
    socket.destroy();
    if (got && armed) {
      if (magic) {
        armed = false;
        log('disarmed', 'magic close');
      } else log('left-armed', 'closed without the magic character: still counting');
    }
    setTimeout(listen, got ? 0 : 50);
  });
  socket.on('error', (error) => {
    log('error', error.message);
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    setTimeout(listen, 200);
  });
}

log('start', `fifo ${fifo}, timeout ${timeoutMs} ms`);
listen();
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log('stop', signal);
    process.exit(0);
  });
}
