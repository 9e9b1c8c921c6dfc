/**
 * Issue 14, kernel mode, what the client matrix (kernel-core.test.ts) does not show: a port thief on
 * another client host gets nothing and the rightful client's transfer works; a second connection from
 * the client's own address is refused; no element is left in ftpmasq's table after 200 sessions and
 * after sessions abandoned at every stage; a `kill -9` leaves a table that the next start replaces and
 * the stop after it deletes; the start-up check of net.ipv4.ip_forward. The gateway forwards, with no
 * NAT rule of the test's: a data connection reaches ProFTPD only through ftpmasq's forwarding.
 */
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, type FtpmasqProcess, startFtpmasq } from '../helpers/ftpmasq-process.js';
import { requireProgram } from '../helpers/prerequisites.js';
import { LARGE_FILE, SAMPLE_FILE } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, SERVER_ADDRESS, type ClientHost, type RunResult } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { MetricsSample } from './support/proxy-checks.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'support', 'kernel-data-client.py');
const THIEF_ADDRESS = '203.0.113.3';
const SAMPLE_SHA256 = 'd740931476e4f8895087e6824b026bd7d53bf6db7d699b88f784c14693f9a377';
const METRICS_URL = 'http://127.0.0.1:9464/metrics';
const SESSIONS = 200;
/** A removal waits for the counters to settle (at most 3 s) before it deletes. */
const REMOVAL_WAIT_MS = 8000;
const PASSIVE_TIMEOUT = '2s';

const nft = requireProgram('nft', 'nftables');
let env: E2eEnvironment | undefined;
let thiefHost: ClientHost | undefined;
let ftpmasq: FtpmasqProcess | undefined;

const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const logTail = (): string => (ftpmasq === undefined ? '' : ftpmasq.output().trimEnd().split('\n').slice(-40).join('\n'));

async function startKernelMode(): Promise<FtpmasqProcess> {
  const { tools, topology } = requireEnv();
  ftpmasq = await startFtpmasq({ tools, topology, mode: 'kernel', extraArgs: ['--passive-timeout', PASSIVE_TIMEOUT] });
  return ftpmasq;
}

function script(host: ClientHost, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  const { tools, topology } = requireEnv();
  return topology.exec(host.namespace, tools.python3, [SCRIPT, ...args], { timeoutMs });
}

function jsonOf(run: RunResult): Record<string, unknown> {
  expect(run.code, `${run.command}\n${run.stderr}\n${logTail()}`).toBe(0);
  const value: unknown = JSON.parse(run.stdout.toString('utf8'));
  if (typeof value !== 'object' || value === null) throw new Error(`not a JSON object: ${run.stdout.toString('utf8')}`);
  return { ...value };
}

interface TableState {
  readonly exists: boolean;
  /** Map elements, and named limits and counters (each transfer adds some of both). */
  readonly elements: number;
  readonly objects: number;
}

async function tableState(): Promise<TableState> {
  const { topology } = requireEnv();
  const run = await topology.exec(topology.gateway, nft, ['-j', 'list', 'table', 'ip', 'ftpmasq']);
  if (run.code !== 0) return { exists: false, elements: 0, objects: 0 };
  const listed: unknown = JSON.parse(run.stdout.toString('utf8'));
  const items = typeof listed === 'object' && listed !== null && 'nftables' in listed && Array.isArray(listed.nftables) ? listed.nftables : [];
  let elements = 0;
  let objects = 0;
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    if ('map' in item && typeof item.map === 'object' && item.map !== null && 'elem' in item.map && Array.isArray(item.map.elem)) elements += item.map.elem.length;
    if ('limit' in item || 'counter' in item) objects++;
  }
  return { exists: true, elements, objects };
}

/** Polls until the table holds no transfer (removals settle for up to 3 s each), bounded. */
async function waitForEmptyTable(): Promise<TableState> {
  const deadline = performance.now() + REMOVAL_WAIT_MS;
  let state = await tableState();
  while ((state.elements > 0 || state.objects > 0) && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    state = await tableState();
  }
  return state;
}

async function metrics(): Promise<MetricsSample> {
  const { tools, topology } = requireEnv();
  const run = await topology.exec(topology.gateway, tools.curl, ['--silent', '--show-error', '--max-time', '5', METRICS_URL]);
  expect(run.code, run.stderr).toBe(0);
  return new MetricsSample(run.stdout.toString('utf8'));
}

beforeAll(async () => {
  env = await setUpEnvironment();
  await env.topology.setNat('forwarding');
  thiefHost = await env.topology.addClientHost(THIEF_ADDRESS);
  await startKernelMode();
});

afterAll(async () => {
  try {
    await ftpmasq?.stop();
  } finally {
    await env?.teardown();
  }
});

describe('ftpmasq --mode kernel (issue 14)', () => {
  it('creates its table at start, with no transfer in it', async () => {
    expect(await tableState()).toEqual({ exists: true, elements: 0, objects: 0 });
  });

  it('a thief on another client host connecting first gets nothing; the client then gets the file; a second connection from the client is refused', async () => {
    const { topology, clientDir } = requireEnv();
    const portFile = join(clientDir, 'kernel-port');
    const goFile = join(clientDir, 'kernel-go');
    await rm(portFile, { force: true });
    await rm(goFile, { force: true });
    const rightful = script(topology.client, ['session', PUBLIC_ADDRESS, portFile, goFile, SAMPLE_FILE]);
    const deadline = performance.now() + 15_000;
    while (!existsSync(portFile) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const port = Number(await readFile(portFile, 'utf8'));
    expect(port, logTail()).toBeGreaterThanOrEqual(60000);
    if (thiefHost === undefined) throw new Error('no thief host');
    const thief = jsonOf(await script(thiefHost, ['thief', PUBLIC_ADDRESS, String(port)]));
    await writeFile(goFile, 'go');
    const client = jsonOf(await rightful);
    console.log(`[e2e] kernel mode, port ${port}: thief ${JSON.stringify(thief)}; client ${JSON.stringify(client)}`);
    expect(thief).toEqual({ connect: 'refused', bytes: 0 });
    expect(client['size']).toBe(12);
    expect(client['sha256']).toBe(SAMPLE_SHA256);
    expect(String(client['reply'])).toMatch(/^226 /);
    expect(client['second']).toBe('refused');
  });

  it(`${SESSIONS} sessions, each a checksummed download: all intact, no transfer left in the table, bytes counted by the kernel`, async () => {
    const before = (await metrics()).value('ftpmasq_data_bytes_total{direction="to_client"}');
    const result = jsonOf(await script(requireEnv().topology.client, ['sessions', PUBLIC_ADDRESS, String(SESSIONS), SAMPLE_FILE], 180_000));
    expect(result).toEqual({ sessions: SESSIONS, intact: SESSIONS, sha256: SAMPLE_SHA256 });
    const state = await waitForEmptyTable();
    expect(state, logTail()).toEqual({ exists: true, elements: 0, objects: 0 });
    // IP bytes the kernel forwarded to the client: every payload byte, plus headers (docs/DESIGN.md).
    const counted = (await metrics()).value('ftpmasq_data_bytes_total{direction="to_client"}') - before;
    console.log(`[e2e] kernel mode: ${SESSIONS} sessions, ftpmasq_data_bytes_total{to_client} +${counted}`);
    expect(counted).toBeGreaterThanOrEqual(SESSIONS * 12);
    expect(counted).toBeLessThan(SESSIONS * 12 * 100);
  }, 240_000);

  it('sessions abandoned at every stage leave no transfer in the table; after the passive timeout the port is refused', async () => {
    const result = jsonOf(await script(requireEnv().topology.client, ['abandon', PUBLIC_ADDRESS, LARGE_FILE]));
    expect(result['stages']).toHaveLength(8);
    expect(result['after_passive_timeout']).toBe('refused');
    const state = await waitForEmptyTable();
    expect(state, logTail()).toEqual({ exists: true, elements: 0, objects: 0 });
    expect(ftpmasq?.running(), logTail()).toBe(true);
  });

  it('kill -9 leaves its table; the next start replaces it, and the stop after deletes it', async () => {
    const { topology, clientDir } = requireEnv();
    const portFile = join(clientDir, 'kernel-port-kill');
    const goFile = join(clientDir, 'kernel-go-kill');
    await rm(portFile, { force: true });
    // A session with a transfer armed, then the crash.
    const pending = script(topology.client, ['session', PUBLIC_ADDRESS, portFile, goFile, SAMPLE_FILE], 30_000);
    const deadline = performance.now() + 15_000;
    while (!existsSync(portFile) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    const killed = ftpmasq;
    killed?.signal('SIGKILL');
    expect(await killed?.waitForExit(5000)).toMatchObject({ signal: 'SIGKILL' });
    const stale = await tableState();
    expect(stale.exists).toBe(true);
    expect(stale.elements).toBeGreaterThan(0);
    await writeFile(goFile, 'go');
    await pending;

    const restarted = await startKernelMode();
    expect(await tableState()).toEqual({ exists: true, elements: 0, objects: 0 });
    expect(await restarted.stop()).toEqual({ code: 0, signal: null });
    expect((await tableState()).exists).toBe(false);
  });

  it('refuses to start without net.ipv4.ip_forward=1, saying what to set, and leaves no table', async () => {
    const { topology } = requireEnv();
    await topology.setNat('off');
    try {
      const run = await topology.exec(
        topology.gateway,
        process.execPath,
        [CLI_PATH, '--listen', `${PUBLIC_ADDRESS}:21`, '--upstream', `${SERVER_ADDRESS}:21`, '--mode', 'kernel'],
        { timeoutMs: 15_000 },
      );
      expect(run.code, run.stderr).toBe(1);
      expect(run.stderr).toMatch(/--mode kernel: net\.ipv4\.ip_forward is 0 .*sysctl -w net\.ipv4\.ip_forward=1/);
      expect((await tableState()).exists).toBe(false);
    } finally {
      await topology.setNat('forwarding');
    }
  });
});
