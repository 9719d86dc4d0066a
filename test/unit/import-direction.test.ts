/**
 * The layout's import rules (docs/architecture.md, "Where the code lives"): the pure decision code
 * reaches no I/O, the systems' clients know nothing of what nova-ha decides or does, and lib/
 * never reaches up into handlers/ or cli/. The second test runs the same checker over a small
 * tree that breaks each rule, so a checker that could not fail would be seen.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkImportRules, importEdges } from '../support/import-rules.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('import direction between the rooms of lib/', () => {
  it('holds in the code base', () => {
    expect(importEdges(repo).length).toBeGreaterThan(200);
    expect(checkImportRules(repo)).toEqual([]);
  });

  const fixture = mkdtempSync(join(tmpdir(), 'nova-ha-imports-'));
  afterAll(() => rmSync(fixture, { recursive: true, force: true }));
  const file = (path: string, text: string): void => {
    mkdirSync(dirname(join(fixture, path)), { recursive: true });
    writeFileSync(join(fixture, path), text);
  };

  it('fails on a tree that breaks each rule', () => {
    file('lib/shared/duration.ts', 'export const ms = 1;\n');
    file('lib/systems/consul/api.ts', "import { readFileSync } from 'node:fs';\nimport { decide } from '../../decision/policy.js';\nexport const api = readFileSync;\n");
    file('lib/decision/model.ts', "import { ms } from '../shared/duration.js';\nexport const x = ms;\n");
    file('lib/decision/helper.ts', "import { api } from '../systems/consul/api.js';\nexport const y = api;\n");
    file('lib/decision/policy.ts', "import { x } from './model.js';\nimport { y } from './helper.js';\nimport { execa } from 'execa';\nexport const decide = () => [x, y, execa];\n");
    file('lib/decision/observation.ts', "import type { Incident } from '../state/incident.js';\nimport { open } from '../state/incident.js';\nexport type I = Incident;\nexport const o = open;\n");
    file('lib/state/incident.ts', 'export interface Incident { id: string }\nexport const open = 1;\n');
    file('lib/recovery/worker.ts', "import { main } from '../../handlers/worker.js';\nexport const w = main;\n");
    file('handlers/worker.ts', 'export const main = 1;\n');

    const found = checkImportRules(fixture).map((v) => `${v.rule} | ${v.file} | ${v.detail}`);
    expect(found).toEqual(expect.arrayContaining([
      'decision code is pure | lib/decision/policy.ts | reaches lib/systems/consul/api.ts at run time',
      'decision code is pure | lib/decision/policy.ts | reaches execa at run time',
      'decision code is pure | lib/decision/helper.ts | reaches node:fs at run time',
      'decision code imports no client, recovery or operator code (not even types) | lib/decision/helper.ts | imports lib/systems/consul/api.ts',
      'decision code takes only the shapes of state/ (import type) | lib/decision/observation.ts | imports lib/state/incident.ts',
      "the systems' clients import nothing from decision, state, recovery or operator code | lib/systems/consul/api.ts | imports lib/decision/policy.ts",
      'lib never imports handlers/ or cli/ | lib/recovery/worker.ts | imports handlers/worker.ts',
    ]));
    // The type-only import of the same file is allowed, and the pure model passes.
    expect(found.filter((f) => f.includes('lib/decision/model.ts'))).toEqual([]);
    expect(found.filter((f) => f.includes('observation.ts')).length).toBe(2);
  });
});
