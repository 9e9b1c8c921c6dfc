/** The options that decide who may connect to a site, and how many sessions each client gets. */
import type { OptionSpec } from './option-specs.js';

export const ACCESS_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'allowClients',
    flag: '--allow-client',
    valueName: 'CIDR',
    description: 'only clients from these blocks may connect (no list: everyone); repeat for several; denyClients wins',
    defaultValue: undefined,
    scope: 'site',
    repeatable: true,
  },
  {
    key: 'denyClients',
    flag: '--deny-client',
    valueName: 'CIDR',
    description: 'clients from these blocks get 421 before any upstream connection; repeat for several',
    defaultValue: undefined,
    scope: 'site',
    repeatable: true,
  },
  {
    key: 'maxSessionsPerClient',
    flag: '--max-sessions-per-client',
    valueName: 'N|unlimited',
    description: 'concurrent sessions from one client address; more get 421',
    defaultValue: 'unlimited',
    scope: 'site',
  },
];
