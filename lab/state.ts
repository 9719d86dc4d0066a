/**
 * The lab's state file, <run>/lab.json: which lab this is and which namespaces it meant to create.
 * It is written before anything else, so `down` after a crashed `up` knows the lab; `down` also
 * works without it, from the prefix alone (see labNamespacesOnMachine).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LAB_NAMESPACE } from './guard.js';
import { computeNames, controllerNames, MAX_COMPUTES, namespaceOf, runDir, type LabSpec } from './topology.js';
import { run } from './shell.js';

export interface LabState {
  readonly prefix: string;
  readonly computes: number;
  readonly namespaces: readonly string[];
  /** ISO time `up` started. */
  readonly createdAt: string;
  /** Consul ACLs on (up --acl). */
  readonly acl?: boolean;
}

const PREFIX = /^[a-z][a-z0-9]{0,9}$/;

export function validateSpec(spec: LabSpec): void {
  if (!PREFIX.test(spec.prefix)) throw new Error(`lab prefix "${spec.prefix}" is invalid: use 1-10 lower-case letters and digits (as lab/nova accepts), starting with a letter`);
  if (!Number.isInteger(spec.computes) || spec.computes < 1 || spec.computes > MAX_COMPUTES) {
    throw new Error(`lab computes ${spec.computes} is invalid: use a whole number from 1 to ${MAX_COMPUTES}`);
  }
}

/** Every namespace of a lab, switch first (the order they are created in). */
export function namespacesOf(spec: LabSpec): string[] {
  const bmcs = computeNames(spec).map((compute) => compute.replace(/^cmp/, 'bmc'));
  return ['sw', ...controllerNames(), ...computeNames(spec), ...bmcs].map((node) => namespaceOf(spec, node));
}

export const stateFile = (spec: Pick<LabSpec, 'prefix'>): string => join(runDir({ prefix: spec.prefix, computes: 0 }), 'lab.json');

export function writeState(spec: LabSpec, options: { acl?: boolean } = {}): LabState {
  const state: LabState = { prefix: spec.prefix, computes: spec.computes, namespaces: namespacesOf(spec), createdAt: new Date().toISOString(), ...(options.acl ? { acl: true } : {}) };
  mkdirSync(runDir(spec), { recursive: true });
  writeFileSync(stateFile(spec), `${JSON.stringify(state, null, 2)}\n`);
  return state;
}

export function readState(prefix: string): LabState | undefined {
  const file = stateFile({ prefix });
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as LabState;
    if (state.prefix !== prefix || !Array.isArray(state.namespaces)) return undefined;
    return state;
  } catch {
    return undefined;
  }
}

/** The namespaces on this machine that belong to the lab with this prefix (exact name pattern, never a mere prefix match). */
export async function labNamespacesOnMachine(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => LAB_NAMESPACE.test(name) && name.slice(0, name.indexOf('-')) === prefix);
}
