/**
 * What the tests that spawn the built CLI with a config file share: a temporary directory per
 * test, the clients to close and the process to kill after it, and the config file written there.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import { type LocalFtpmasq, writeConfigFile } from '../../helpers/ftpmasq-process.js';
import type { RawFtpClient } from '../../helpers/raw-ftp-client.js';

export interface SpawnedCli {
  /** Closed after each test. */
  readonly clients: RawFtpClient[];
  /** Writes `ftpmasq.yaml` in the test's directory: the defaults, then `options`; returns its path. */
  configFile(options: Readonly<Record<string, string>>): string;
}

/**
 * Registers the per-test set-up and clean-up. `takeProxy` hands over the test's process (and
 * forgets it), so the file keeps its own `proxy` variable.
 */
export function useSpawnedCli(
  directoryPrefix: string,
  defaults: Readonly<Record<string, string | readonly string[]>>,
  takeProxy: () => LocalFtpmasq | undefined,
): SpawnedCli {
  let directory = '';
  const clients: RawFtpClient[] = [];
  beforeEach(() => {
    directory = mkdtempSync(join(tmpdir(), directoryPrefix));
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await takeProxy()?.kill();
    rmSync(directory, { recursive: true, force: true });
  });
  return {
    clients,
    configFile: (options) => {
      const path = join(directory, 'ftpmasq.yaml');
      writeConfigFile(path, { listen: ['127.0.0.1:0'], metricsListen: '127.0.0.1:0', logLevel: 'info', ...defaults, ...options });
      return path;
    },
  };
}
