/**
 * The two systemd services nova-ha may install besides its Consul fragments, each opt-in: Consul
 * runs handlers and checks as short-lived processes, and these two must live as long as what they
 * hold. On a compute with [watchdog] enabled, nova-ha-watchdog holds the watchdog device open and
 * feeds it (an open watchdog that is closed without the magic close keeps counting, and every
 * such close is a kernel warning: one process must hold it). On a controller with [kdump]
 * enabled, nova-ha-kdump keeps the fence_kdump port bound for the whole of a dump. Both run as
 * the Consul agents' user; install.sh writes them, enables and starts them.
 */
import type { Config } from '../../config/load.js';

export interface UnitPaths {
  readonly node: string;
  readonly lib: string;
  readonly config: string;
  /** The Consul agents' user: the services run as it. */
  readonly user: string;
}

export interface Unit {
  readonly name: string;
  readonly text: string;
}

/** One ExecStart word, quoted for systemd when it needs it. */
const word = (text: string): string => (/^[\w./@:+=,-]+$/.test(text) ? text : `"${text.replace(/(["\\])/g, '\\$1')}"`);
const command = (...words: string[]): string => words.map(word).join(' ');

export function units(role: 'controller' | 'compute', config: Config, paths: UnitPaths): Unit[] {
  const handler = (name: string): string => command(paths.node, `${paths.lib}/handlers/${name}.js`, '--config', paths.config);
  const header = (what: string): string[] => [`# Written by nova-ha's install.sh from ${what} of ${paths.config}; run install.sh again after changing it.`, '[Unit]'];
  const out: Unit[] = [];
  if (role === 'compute' && config.watchdog.enabled) {
    const device = config.watchdog.device;
    out.push({
      name: 'nova-ha-watchdog',
      text: [
        ...header('[watchdog]'),
        'Description=nova-ha watchdog feeder (self-fence fallback): fed while a Consul leader of mgmt or storage sees this node alive',
        'Wants=network-online.target',
        'After=network-online.target',
        '',
        '[Service]',
        'Type=simple',
        `User=${paths.user}`,
        '# The device is root\'s: the feeder, run as the Consul agents\' user, is given this one device.',
        `ExecStartPre=+${command('/bin/chgrp', paths.user, device)}`,
        `ExecStartPre=+${command('/bin/chmod', '0660', device)}`,
        `ExecStart=${handler('watchdog')}`,
        '# A feeder that dies feeds no more: the watchdog resets the node unless it is back within the timeout.',
        'Restart=on-failure',
        'RestartSec=1',
        '# A stop disarms the watchdog once the mgmt leader shows it disarmed; if it cannot, the node resets.',
        'TimeoutStopSec=30',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
    });
  }
  if (role === 'controller' && config.kdump.enabled) {
    out.push({
      name: 'nova-ha-kdump',
      text: [
        ...header('[kdump]'),
        `Description=nova-ha fence_kdump listener (UDP ${config.kdump.port}): crash dumps of compute hosts`,
        'Wants=network-online.target',
        'After=network-online.target',
        '',
        '[Service]',
        'Type=simple',
        `User=${paths.user}`,
        `ExecStart=${handler('kdump-listener')}`,
        'Restart=always',
        'RestartSec=1',
        '',
        '[Install]',
        'WantedBy=multi-user.target',
        '',
      ].join('\n'),
    });
  }
  return out;
}
