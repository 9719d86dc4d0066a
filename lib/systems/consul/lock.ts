/**
 * One actor per host in the whole cluster: a KV key acquired with a Consul session. The session
 * is tied to this controller's serfHealth (a failed controller loses it at once) and has a TTL
 * that the holder renews (a killed worker loses it within about twice the TTL), so another
 * controller can resume the work.
 */
import type { ConsulApi } from './api.js';

export interface LockOptions {
  readonly key: string;
  /** Stored as the key's value: who holds it and why. */
  readonly holder: Record<string, unknown>;
  readonly ttlSeconds?: number;
  /** After the session is lost, nobody may take the key for this long (Consul's lock-delay). */
  readonly lockDelay?: string;
}

export interface HeldLock {
  readonly key: string;
  readonly session: string;
  /** Resolves with why the lock was lost; never rejects. */
  readonly lost: Promise<string>;
  isHeld(): boolean;
  release(): Promise<void>;
}

export async function tryAcquire(api: ConsulApi, options: LockOptions): Promise<HeldLock | undefined> {
  const ttl = options.ttlSeconds ?? 10;
  const session = await api.sessionCreate({ name: `nova-ha ${options.key}`, ttl: `${ttl}s`, lockDelay: options.lockDelay ?? '5s', nodeChecks: ['serfHealth'], behavior: 'release' });
  let acquired = false;
  try {
    acquired = await api.kvPut(options.key, JSON.stringify({ ...options.holder, session, since: new Date().toISOString() }), { acquire: session });
  } finally {
    if (!acquired) await api.sessionDestroy(session).catch(() => undefined);
  }
  if (!acquired) return undefined;

  let held = true;
  let markLost: (reason: string) => void = () => undefined;
  const lost = new Promise<string>((resolve) => (markLost = resolve));
  const lose = (reason: string): void => {
    if (!held) return;
    held = false;
    clearInterval(timer);
    markLost(reason);
  };
  let lastRenewal = Date.now();
  // Renew at a third of the TTL; give up when no renewal succeeded for a whole TTL (the session may already be gone).
  const timer = setInterval(() => {
    api.sessionRenew(session).then(
      (alive) => {
        if (alive) lastRenewal = Date.now();
        else lose('the session expired or was invalidated');
      },
      (error: unknown) => {
        if (Date.now() - lastRenewal > ttl * 1000) lose(`the session could not be renewed for ${ttl}s (${(error as Error).message})`);
      },
    );
  }, (ttl * 1000) / 3);
  timer.unref();

  return {
    key: options.key,
    session,
    lost,
    isHeld: () => held,
    release: async () => {
      if (!held) return;
      held = false;
      clearInterval(timer);
      markLost('released');
      await api.kvPut(options.key, JSON.stringify({ ...options.holder, releasedAt: new Date().toISOString() }), { release: session }).catch(() => undefined);
      await api.sessionDestroy(session).catch(() => undefined);
    },
  };
}

/** The session holding a lock key, if any (a key whose session is gone is free). */
export async function holderOf(api: ConsulApi, key: string): Promise<string | undefined> {
  const entry = await api.kvGet(key);
  return entry?.Session || undefined;
}
