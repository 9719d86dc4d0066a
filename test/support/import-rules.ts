/**
 * The direction of imports between lib/'s rooms, as data and a checker, so the layout stays as
 * docs/architecture.md draws it. Reads the sources with a regular expression (every import in
 * this code base is a static `import ... from '...'`, a side-effect `import '...'`, an
 * `export ... from '...'` or a dynamic `import('...')`); `import type` lines vanish at compile
 * time and count only where a rule says so.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';

export interface ImportEdge {
  readonly from: string;
  /** A repo-relative .ts path for a relative import, else the bare specifier (node:fs, consul). */
  readonly to: string;
  readonly typeOnly: boolean;
}

const IMPORT = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/gm;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (entry.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Every import of every .ts file under root's lib/, handlers/ and cli/ (paths relative to root). */
export function importEdges(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const top of ['lib', 'handlers', 'cli']) {
    let files: string[];
    try {
      files = sourceFiles(join(root, top));
    } catch {
      continue;
    }
    for (const file of files) {
      const from = relative(root, file).split(sep).join('/');
      for (const match of readFileSync(file, 'utf8').matchAll(IMPORT)) {
        const specifier = match[3] ?? match[4]!;
        const typeOnly = match[2] !== undefined;
        if (!specifier.startsWith('.')) {
          edges.push({ from, to: specifier, typeOnly });
          continue;
        }
        edges.push({ from, to: resolveTarget(root, posix.normalize(posix.join(posix.dirname(from), specifier))), typeOnly });
      }
    }
  }
  return edges;
}

/** lib/a/b.js is lib/a/b.ts; lib/systems/nova (a folder) is its index.ts. */
function resolveTarget(root: string, target: string): string {
  if (target.endsWith('.js')) return target.replace(/\.js$/, '.ts');
  try {
    if (statSync(join(root, target)).isDirectory()) return `${target}/index.ts`;
  } catch {
    // no such folder: a file named without its extension
  }
  return `${target}.ts`;
}

const under = (path: string, ...folders: string[]): boolean => folders.some((f) => path === f || path.startsWith(`${f}/`));

/** Files a file reaches at run time (type-only imports are erased), itself excluded. */
export function runtimeClosure(edges: readonly ImportEdge[], start: string): Set<string> {
  const next = new Map<string, string[]>();
  for (const e of edges) if (!e.typeOnly) next.set(e.from, [...(next.get(e.from) ?? []), e.to]);
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length) {
    for (const to of next.get(stack.pop()!) ?? []) {
      if (seen.has(to)) continue;
      seen.add(to);
      stack.push(to);
    }
  }
  return seen;
}

/** What the pure decision code may never reach at run time: anything that talks to the world. */
const IO_MODULES = ['lib/systems', 'lib/state', 'lib/recovery', 'lib/operator', 'lib/node', 'lib/shared/proc.ts', 'lib/shared/handler.ts', 'lib/shared/log.ts', 'lib/shared/run-counter.ts', 'lib/config/load.ts'];
const IO_PACKAGES = /^(node:)?(fs|fs\/promises|child_process|net|http|https|dgram|dns|tls)$|^(consul|execa|nodemailer|prom-client)$/;

export interface Violation {
  readonly rule: string;
  readonly file: string;
  readonly detail: string;
}

/** The rules of docs/architecture.md ("Where the code lives"), checked over root. */
export function checkImportRules(root: string): Violation[] {
  const edges = importEdges(root);
  const out: Violation[] = [];
  const files = new Set(edges.map((e) => e.from));

  for (const file of files) {
    if (!under(file, 'lib/decision')) continue;
    for (const reached of runtimeClosure(edges, file)) {
      if (under(reached, ...IO_MODULES) || IO_PACKAGES.test(reached)) out.push({ rule: 'decision code is pure', file, detail: `reaches ${reached} at run time` });
    }
  }
  for (const e of edges) {
    const rule = (name: string): void => void out.push({ rule: name, file: e.from, detail: `imports ${e.to}` });
    if (under(e.from, 'lib') && under(e.to, 'handlers', 'cli')) rule('lib never imports handlers/ or cli/');
    if (under(e.from, 'lib/decision') && under(e.to, 'lib/systems', 'lib/recovery', 'lib/operator')) rule('decision code imports no client, recovery or operator code (not even types)');
    if (under(e.from, 'lib/decision') && under(e.to, 'lib/state') && !e.typeOnly) rule('decision code takes only the shapes of state/ (import type)');
    if (under(e.from, 'lib/systems') && under(e.to, 'lib/decision', 'lib/state', 'lib/recovery', 'lib/operator')) rule('the systems\' clients import nothing from decision, state, recovery or operator code');
    if (under(e.from, 'lib/shared', 'lib/config') && under(e.to, 'lib') && !under(e.to, 'lib/shared', 'lib/config')) rule('shared helpers and config import only each other');
    if (under(e.from, 'lib/state') && under(e.to, 'lib/recovery', 'lib/operator')) rule('state imports no recovery or operator code');
    if (under(e.from, 'lib/recovery') && under(e.to, 'lib/operator')) rule('recovery imports no operator code');
    if (under(e.from, 'lib/node') && under(e.to, 'lib/state', 'lib/recovery', 'lib/operator')) rule('node code (what a compute runs on its own) imports no controller code');
    if (under(e.from, 'lib') && !under(e.from, 'lib/node') && under(e.to, 'lib/node')) rule('only handlers import node code');
  }
  return out;
}
