/** The lab the global setup brought up, for one test file. */
import { inject } from 'vitest';
import { Lab } from '../../lab/lab.js';

export function testLab(): Promise<Lab> {
  return Lab.attach(inject('labPrefix'), (message) => process.stderr.write(`${new Date().toISOString().slice(11, 23)} lab: ${message}\n`));
}
