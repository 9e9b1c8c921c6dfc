/** The options of scale-out (docs/SCALING.md): a replica's slice of the passive range, shared ports, advertised ports. */
import type { OptionSpec } from './option-specs.js';

export const SCALE_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'passivePortSlice',
    flag: '--passive-port-slice',
    valueName: 'INDEX/COUNT|auto/COUNT',
    description:
      'use only slice INDEX (from 0) of COUNT equal slices of passivePorts, one per replica; auto takes INDEX from the host name ordinal (ftpmasq-2)',
    defaultValue: undefined,
    scope: 'site',
  },
  {
    key: 'passivePortSharing',
    flag: '--passive-port-sharing',
    valueName: 'true|false',
    description: 'true: one passive port may wait for several sessions at once if their client addresses differ (never two of one address)',
    defaultValue: 'false',
    scope: 'site',
  },
  {
    key: 'advertisedPassivePortOffset',
    flag: '--advertised-passive-port-offset',
    valueName: 'OFFSET',
    description: '227/229 replies name the bound passive port plus this (for NodePort or balancer port mappings); may be negative',
    defaultValue: '0',
    scope: 'site',
  },
];
