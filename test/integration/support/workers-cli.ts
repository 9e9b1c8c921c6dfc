/** Waiting for a `--workers 2` CLI to be ready, for the workers test files. */
import { expect } from 'vitest';
import type { LocalFtpmasq } from '../../helpers/ftpmasq-process.js';
import { type Endpoint, waitUntil } from '../../helpers/raw-ftp-client.js';
import { httpGet } from './daemon-fixtures.js';

export interface StartedWorkers {
  readonly control: Endpoint;
  readonly metrics: Endpoint;
}

/**
 * Both workers ready (each logs `ftpmasq ready` with its index), the primary's ready line with the
 * metrics address, and the primary's /readyz 200: a worker's ready line can come before the
 * primary has its first health report, and until then the primary counts a worker's death as a
 * failed start.
 */
export async function waitForTwoWorkers(started: LocalFtpmasq): Promise<StartedWorkers> {
  for (const worker of [0, 1]) await started.waitForRecord((record) => record['msg'] === 'ftpmasq ready' && record['worker'] === worker, 10_000);
  const primary = await started.waitForRecord((record) => record['msg'] === 'ftpmasq primary ready', 10_000);
  const metricsMatch = /^http:\/\/127\.0\.0\.1:(\d+)\/metrics$/.exec(String(primary['metrics']));
  expect(metricsMatch).not.toBeNull();
  const metrics = { host: '127.0.0.1', port: Number(metricsMatch?.[1]) };
  await waitUntil(async () => (await httpGet(metrics, '/readyz')).status === 200, 10_000, () => 'the primary never saw both workers ready');
  const listen = started.ready['listen'];
  const first = Array.isArray(listen) ? String(listen[0]) : '';
  return { control: { host: '127.0.0.1', port: Number(first.split(':').at(-1)) }, metrics };
}
