/** The option of the multi-process relay (docs/DESIGN.md, "Workers"): how many processes serve. */
import type { OptionSpec } from './option-specs.js';

export const WORKERS_OPTION_SPECS: readonly OptionSpec[] = [
  {
    key: 'workers',
    flag: '--workers',
    valueName: 'N|auto',
    description:
      'worker processes sharing the control listeners, each owning its own slice of every passive range; auto is the number of cores, capped so each worker gets at least 16 ports of every passive range, and 1 with a kernel-mode site (which more workers cannot serve); 1 is one process',
    defaultValue: 'auto',
    scope: 'process',
  },
];
