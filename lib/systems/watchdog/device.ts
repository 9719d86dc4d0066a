/**
 * A Linux watchdog device (/dev/watchdogN) as the kernel's watchdog API defines it: opening it
 * arms it, every write feeds it, and closing it after writing the magic character 'V' disarms it;
 * closed any other way (the holder crashed or stopped without the magic close) it keeps counting
 * and resets the machine at its timeout. Node cannot make ioctl calls, so the timeout is read from
 * sysfs (/sys/dev/char/MAJOR:MINOR/timeout, what /sys/class/watchdog/watchdogN/timeout links to)
 * and set by the driver or wdctl, never here.
 *
 * nova-ha's lab has no watchdog of any kind (shared docs/fencing-lab.md section 3): its
 * simulation is a FIFO with the same protocol, read by a process that powers the lab host off
 * when it is not fed (lab/watchdog-sim.ts). A FIFO is reported as a simulation, never as a device.
 */
import { closeSync, constants, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import type { Config, ConfigProblem } from '../../config/load.js';

export type DeviceInfo =
  | { readonly kind: 'device'; readonly path: string; readonly timeoutMs: number | undefined; readonly sysfs: string }
  | { readonly kind: 'simulation'; readonly path: string }
  | { readonly kind: 'unusable'; readonly path: string; readonly error: string };

/** Linux's encoding of device numbers (sysmacros.h), on the 64-bit rdev that statSync gives as a bigint. */
export function majorMinor(rdev: bigint): [number, number] {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & 0xfffff000n);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & 0xffffff00n);
  return [Number(major), Number(minor)];
}

/** What the path is, and for a device the timeout its driver reports. */
export function deviceInfo(path: string): DeviceInfo {
  let stat;
  try {
    stat = statSync(path, { bigint: true });
  } catch (error) {
    return { kind: 'unusable', path, error: `${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message} (no watchdog driver loaded? e.g. modprobe softdog)` };
  }
  if (stat.isFIFO()) return { kind: 'simulation', path };
  if (!stat.isCharacterDevice()) return { kind: 'unusable', path, error: `${path} is not a character device` };
  const [major, minor] = majorMinor(stat.rdev);
  const sysfs = `/sys/dev/char/${major}:${minor}`;
  let timeoutMs: number | undefined;
  try {
    const seconds = Number(readFileSync(`${sysfs}/timeout`, 'utf8').trim());
    timeoutMs = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : undefined;
  } catch {
    timeoutMs = undefined;
  }
  return { kind: 'device', path, timeoutMs, sysfs };
}

/** An open watchdog: armed from open() until disarm() (magic close) or for good after abandon(). */
export class Watchdog {
  #fd: number | undefined;

  constructor(readonly path: string) {}

  get armed(): boolean {
    return this.#fd !== undefined;
  }

  /** Opens (arms) and feeds once. Non-blocking: a simulation whose reader is not there fails at once (ENXIO). */
  arm(): void {
    if (this.#fd !== undefined) return;
    this.#fd = openSync(this.path, constants.O_WRONLY | constants.O_NONBLOCK);
    this.feed();
  }

  feed(): void {
    if (this.#fd === undefined) throw new Error(`the watchdog ${this.path} is not armed`);
    writeSync(this.#fd, '1');
  }

  /** The magic close: write 'V', then close, and the watchdog stops (unless the driver has nowayout). */
  disarm(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    try {
      writeSync(fd, 'V');
    } finally {
      closeSync(fd);
    }
  }

  /** Close without the magic character: the watchdog keeps counting and resets the machine at its timeout. */
  abandon(): void {
    if (this.#fd === undefined) return;
    const fd = this.#fd;
    this.#fd = undefined;
    closeSync(fd);
  }
}

/** What check-config adds on a compute with the watchdog on: the device is there and reports the configured timeout. */
export function watchdogProblems(config: Pick<Config, 'DEFAULT' | 'watchdog'>): ConfigProblem[] {
  if (config.DEFAULT.role !== 'compute' || !config.watchdog.enabled) return [];
  const info = deviceInfo(config.watchdog.device);
  const problem = (message: string, warning = false): ConfigProblem[] => [{ section: 'watchdog', key: 'device', message, ...(warning ? { warning } : {}) }];
  if (info.kind === 'unusable') return problem(`expected a watchdog device, found ${info.error}`);
  if (info.kind === 'simulation') return problem(`${info.path} is a FIFO: a simulated watchdog (nova-ha's lab), not a device; nothing resets this machine`, true);
  if (info.timeoutMs === undefined) return problem(`expected a device that reports its timeout, found none in ${info.sysfs}/timeout (use /dev/watchdogN)`);
  if (info.timeoutMs !== config.watchdog.timeout) return [{ section: 'watchdog', key: 'timeout', message: `expected the device's timeout, ${info.timeoutMs / 1000} s (${info.path}), found ${config.watchdog.timeout / 1000} s; set one to the other (wdctl --settimeout, or the driver's option)` }];
  return [];
}
