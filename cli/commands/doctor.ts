import type { Command } from 'commander';
import { configPath, loadConfigFile } from '../../lib/config/load.js';
import { configVerdict, DOCTOR_CHECKS, notChecked, PLUGIN_EXIT, summarize, type DoctorReport } from '../../lib/decision/doctor.js';
import { configProblems } from '../../lib/operator/config-check.js';
import { doctorSources, runDoctor } from '../../lib/operator/doctor.js';
import { scrub } from '../../lib/shared/secret.js';
import { table } from '../table.js';
import { cliRuntime } from './status.js';

function render(report: DoctorReport): string {
  return `${report.statusLine}\n\n${table(report.rows.map((r) => [r.check, r.status, r.found]), ['CHECK', 'STATUS', 'WHAT WAS FOUND'])}`;
}

export function register(program: Command): void {
  program
    .command('doctor')
    .description('readiness for a failure: N+1 room, BMC credentials, Nova role, Consul tokens, repair keys, clocks, config (monitoring-plugins output; exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .option('--json', 'machine-readable: the status, every row and its perfdata')
    .action(async (options: { json?: boolean }) => {
      const file = configPath(program.opts<{ config?: string }>().config);
      let report: DoctorReport;
      try {
        const loaded = loadConfigFile(file);
        const invalid = !loaded.config || loaded.problems.some((p) => !p.warning);
        // Nothing else can be read without a valid config: the other checks say so rather than fail.
        report = invalid
          ? summarize([configVerdict(file, configProblems(file)), ...DOCTOR_CHECKS.filter((c) => c !== 'config').map((c) => notChecked(c, 'the config is invalid'))])
          : await runDoctor(doctorSources(cliRuntime(program, 'cli-doctor'), file), 'cli');
      } catch (error) {
        console.log(`UNKNOWN: nova-ha doctor could not run: ${scrub(error instanceof Error ? error.message : String(error))}`);
        process.exitCode = PLUGIN_EXIT.UNKNOWN;
        return;
      }
      console.log(options.json ? JSON.stringify(report, null, 2) : render(report));
      process.exitCode = PLUGIN_EXIT[report.status];
    });
}
