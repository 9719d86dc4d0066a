#!/usr/bin/env node
/** nova-ha: the operator's view of and lever on compute-node HA. */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../lib/config/load.js';
import { SnapshotError } from '../lib/decision/snapshot.js';
import { OperatorError } from '../lib/operator/as-operator.js';
import { SpareError } from '../lib/operator/spares.js';
import { UnfenceError } from '../lib/operator/unfence.js';
import { NovaError } from '../lib/systems/nova/index.js';
import { IpmiConfigError } from '../lib/systems/power/ipmi.js';
import { scrub } from '../lib/shared/secret.js';
import { CliError } from './errors.js';
import * as agent from './commands/agent.js';
import * as checkConfig from './commands/check-config.js';
import * as consulFragment from './commands/consul-fragment.js';
import * as doctor from './commands/doctor.js';
import * as fencing from './commands/fencing.js';
import * as hostCommands from './commands/host.js';
import * as installPlan from './commands/install-plan.js';
import * as simulate from './commands/simulate.js';
import * as spares from './commands/spares.js';
import * as status from './commands/status.js';

const program = new Command('nova-ha')
  .description('compute-node high availability for OpenStack Nova, driven by Consul')
  .option('--config <file>', 'config file (default: $NOVA_HA_CONFIG or /etc/nova-ha/nova-ha.conf)')
  .showHelpAfterError()
  .exitOverride();

for (const command of [status, checkConfig, doctor, simulate, fencing, spares, hostCommands, consulFragment, installPlan, agent]) command.register(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2);
  if (error instanceof CliError || error instanceof SnapshotError || error instanceof ConfigError) {
    console.error(`nova-ha: ${scrub(error.message)}`);
    process.exit(error instanceof CliError ? error.exitCode : 2);
  }
  if (error instanceof OperatorError || error instanceof UnfenceError || error instanceof SpareError || error instanceof NovaError || error instanceof IpmiConfigError) {
    console.error(`nova-ha: ${scrub(error.message)}`);
    process.exit(1);
  }
  console.error(`nova-ha: unexpected error: ${scrub(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
  process.exit(70);
}
