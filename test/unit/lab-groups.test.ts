/** CI runs the lab tests as two groups side by side (test/lab/groups.ts): none may be left out or run twice. */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LAB_GROUPS } from '../lab/groups.js';

describe('lab test groups', () => {
  it('hold every lab test file exactly once', () => {
    const files = readdirSync(new URL('../lab/', import.meta.url)).filter((f) => f.endsWith('.test.ts')).map((f) => `test/lab/${f}`).sort();
    const grouped = Object.values(LAB_GROUPS).flat();
    expect([...grouped].sort()).toEqual(files);
    expect(new Set(grouped).size).toBe(grouped.length);
  });
});
