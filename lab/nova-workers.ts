/**
 * Long-lived lab.py processes (`lab.py PREFIX serve`) inside the lab's controller namespace: one
 * Python start and one Keystone token per process instead of per call. A one-shot lab.py cost
 * about 0.8 CPU-s (interpreter, keystoneauth, a password authentication) on a machine the lab
 * already keeps busy; the tests make hundreds of these calls.
 *
 * A worker answers one request at a time; a call that finds every worker busy starts another, so
 * a long call (a boot that waits for ACTIVE) never delays a short one. Workers exit when their
 * stdin closes (this process ends) or after lab.py's idle limit; close() ends them at once.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

class Worker {
  private pending: Pending | undefined;
  private stderr = '';
  private exited = false;

  constructor(private readonly child: ChildProcessWithoutNullStreams, private readonly what: string, private readonly onGone: (w: Worker) => void) {
    createInterface({ input: child.stdout }).on('line', (line) => this.answer(line));
    child.stderr.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    child.on('exit', (code, signal) => {
      this.exited = true;
      this.fail(new Error(`${this.what} ended (${code ?? signal}): ${this.stderr.trim().split('\n').slice(-3).join(' | ') || 'no message'}`));
      onGone(this);
    });
    this.idle();
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  get alive(): boolean {
    return !this.exited;
  }

  call(args: readonly string[], timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error(`${this.what} ${args.join(' ').slice(0, 200)}: no answer in ${timeoutMs / 1000} s`));
        this.child.kill('SIGKILL');
      }, timeoutMs);
      this.pending = { resolve, reject, timer };
      this.child.ref();
      (this.child.stdout as unknown as { ref(): void }).ref();
      this.child.stdin.write(`${JSON.stringify(args)}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill('SIGTERM');
  }

  private answer(line: string): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    this.idle();
    let reply: { ok?: unknown; error?: string };
    try {
      reply = JSON.parse(line) as { ok?: unknown; error?: string };
    } catch {
      pending.reject(new Error(`${this.what}: not a JSON reply: ${line.slice(0, 200)}`));
      return;
    }
    if (reply.error !== undefined) pending.reject(new Error(reply.error));
    else pending.resolve(reply.ok);
  }

  private fail(error: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.reject(error);
  }

  /** An idle worker does not keep this process alive. */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as unknown as { unref(): void }).unref();
    (this.child.stderr as unknown as { unref(): void }).unref();
    (this.child.stdin as unknown as { unref(): void }).unref();
  }
}

export class LabPyWorkers {
  private readonly workers: Worker[] = [];

  /** `argv` starts one worker (ip netns exec ... lab.py PREFIX serve); `env` is its environment. */
  constructor(private readonly argv: readonly string[], private readonly env: NodeJS.ProcessEnv) {}

  async call<T>(args: readonly string[], timeoutMs: number): Promise<T> {
    const worker = this.workers.find((w) => w.alive && !w.busy) ?? this.start();
    return (await worker.call(args, timeoutMs)) as T;
  }

  close(): void {
    for (const worker of this.workers.splice(0)) worker.close();
  }

  private start(): Worker {
    const [file, ...args] = this.argv;
    const child = spawn(file!, args, { env: this.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const worker = new Worker(child, 'lab.py serve', (gone) => {
      const at = this.workers.indexOf(gone);
      if (at >= 0) this.workers.splice(at, 1);
    });
    this.workers.push(worker);
    return worker;
  }
}
