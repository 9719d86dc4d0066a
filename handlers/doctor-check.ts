/**
 * Controllers' script check: nova-ha doctor every few minutes (lib/operator/doctor.ts), its
 * status line with perfdata, then one line per check. It never sends the dry evacuate (only the
 * operator's nova-ha doctor does): it shows Nova's last answer to it, with its age.
 */
import { configPath } from '../lib/config/load.js';
import { CONSUL_EXIT } from '../lib/decision/doctor.js';
import { doctorSources, renderRows, runDoctor } from '../lib/operator/doctor.js';
import { createRuntime } from '../lib/recovery/runtime.js';
import { printStatus, runHandler } from '../lib/shared/handler.js';

/** Consul keeps 4 KiB of a check's output. */
const OUTPUT_LIMIT = 3500;

void runHandler('doctor-check', 'check', [], async ({ config, configFile }) => {
  const report = await runDoctor(doctorSources(createRuntime(config, 'doctor-check'), configPath(configFile)), 'check');
  printStatus(`${report.statusLine}\n${renderRows(report)}`.slice(0, OUTPUT_LIMIT));
  return CONSUL_EXIT[report.status];
});
