/** The zod field of `workers` (option-specs-workers.ts): a whole number, or auto for the cores. */
import { availableParallelism } from 'node:os';
import { optionWithDefault } from './schema-builders.js';
import { ConfigError, parsePositiveInteger } from './values.js';

/** More processes than this would each hold a sliver of a passive range and gain nothing. */
export const MAX_WORKERS = 256;

export function parseWorkers(field: string, text: string, cores = availableParallelism()): number {
  if (text.trim().toLowerCase() === 'auto') return Math.min(cores, MAX_WORKERS);
  try {
    return parsePositiveInteger(field, text, MAX_WORKERS);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(field, `auto or a whole number from 1 to ${MAX_WORKERS}`, text);
    throw error;
  }
}

export const workersProcessFields = {
  workers: optionWithDefault('workers', (field, text) => parseWorkers(field, text)),
};
