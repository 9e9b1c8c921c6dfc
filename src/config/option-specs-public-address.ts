/** How often a `publicAddress` given as a DNS name is resolved again (dynamic public addresses). */
import type { OptionSpec } from './option-specs.js';

export const PUBLIC_ADDRESS_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'publicAddressRefresh',
    flag: '--public-address-refresh',
    valueName: 'DURATION',
    description: 'when publicAddress is a DNS name: how often it is resolved again (the last good address is kept when a lookup fails); at least 1s',
    defaultValue: '60s',
    scope: 'site',
  },
];
