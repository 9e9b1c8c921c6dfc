/**
 * Kernel mode without a fork per transfer: every transfer's kernel calls go through the one
 * long-lived `nft -j -i` that ftpmasq starts with its table (src/kernel/nft-session.ts). 50
 * checksummed downloads start no nft process (ftpmasq_kernel_nft_processes_total stays still, the
 * nft named in the start log line is the one still running) and leave the table empty; the real
 * nft's replies stay matched to their requests when listings (stdout) and errors (stderr) alternate;
 * an nft killed between transfers is replaced, counted, and the transfers after it work; stop ends it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseCounterList } from '../../src/kernel/nft-ruleset.js';
import { CLI_PATH, type FtpmasqProcess, startFtpmasq } from '../helpers/ftpmasq-process.js';
import { requireProgram } from '../helpers/prerequisites.js';
import { SAMPLE_FILE } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { MetricsSample } from './support/proxy-checks.js';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'support', 'kernel-data-client.py');
const SAMPLE_SHA256 = 'd740931476e4f8895087e6824b026bd7d53bf6db7d699b88f784c14693f9a377';
const METRICS_URL = 'http://127.0.0.1:9464/metrics';
const TRANSFERS = 50;
const STARTED_SESSION = 'ftpmasq_kernel_nft_processes_total{process="session"}';
const STARTED_RUN = 'ftpmasq_kernel_nft_processes_total{process="run"}';
const NFT_STARTED = 'nft started for the kernel forwarding (one process, fed over a pipe)';

const nft = requireProgram('nft', 'nftables');
const nftResult = z.union([z.object({ ok: z.literal(true), stdout: z.string() }), z.object({ ok: z.literal(false), error: z.string() })]);
let env: E2eEnvironment | undefined;
let ftpmasq: FtpmasqProcess | undefined;

const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const requireFtpmasq = (): FtpmasqProcess => {
  if (ftpmasq === undefined) throw new Error('ftpmasq did not start (see the beforeAll error)');
  return ftpmasq;
};
const logTail = (): string => (ftpmasq === undefined ? '' : ftpmasq.output().trimEnd().split('\n').slice(-30).join('\n'));

function jsonOf(run: RunResult): Record<string, unknown> {
  expect(run.code, `${run.command}\n${run.stderr}\n${logTail()}`).toBe(0);
  const value: unknown = JSON.parse(run.stdout.toString('utf8'));
  if (typeof value !== 'object' || value === null) throw new Error(`not a JSON object: ${run.stdout.toString('utf8')}`);
  return { ...value };
}

async function downloads(count: number): Promise<Record<string, unknown>> {
  const { tools, topology } = requireEnv();
  return jsonOf(await topology.exec(topology.client.namespace, tools.python3, [SCRIPT, 'sessions', PUBLIC_ADDRESS, String(count), SAMPLE_FILE], { timeoutMs: 120_000 }));
}

async function metrics(): Promise<MetricsSample> {
  const { tools, topology } = requireEnv();
  const run = await topology.exec(topology.gateway, tools.curl, ['--silent', '--show-error', '--max-time', '5', METRICS_URL]);
  expect(run.code, run.stderr).toBe(0);
  return new MetricsSample(run.stdout.toString('utf8'));
}

/** The pids of the long-lived nft processes ftpmasq logged starting, in order. */
function loggedNftPids(): number[] {
  return requireFtpmasq()
    .logRecords.filter((record) => record['msg'] === NFT_STARTED)
    .map((record) => Number(record['pid']));
}

/** Whether `pid` is a running nft (its command name in /proc). */
function isRunningNft(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nft' && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Map elements and named objects in ftpmasq's table; undefined when there is no table. */
async function tableContents(): Promise<{ elements: number; objects: number } | undefined> {
  const { topology } = requireEnv();
  const run = await topology.exec(topology.gateway, nft, ['-j', 'list', 'table', 'ip', 'ftpmasq']);
  if (run.code !== 0) return undefined;
  const listed: unknown = JSON.parse(run.stdout.toString('utf8'));
  const items: unknown[] = typeof listed === 'object' && listed !== null && 'nftables' in listed && Array.isArray(listed.nftables) ? listed.nftables : [];
  let elements = 0;
  let objects = 0;
  for (const item of items) {
    if (typeof item !== 'object' || item === null) continue;
    if ('map' in item && typeof item.map === 'object' && item.map !== null && 'elem' in item.map && Array.isArray(item.map.elem)) elements += item.map.elem.length;
    if ('limit' in item || 'counter' in item) objects++;
  }
  return { elements, objects };
}

/** Removals wait for the counters to settle (at most 3 s): polled, bounded. */
async function waitForEmptyTable(): Promise<{ elements: number; objects: number } | undefined> {
  const deadline = performance.now() + 8000;
  let contents = await tableContents();
  while (contents !== undefined && contents.elements + contents.objects > 0 && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200));
    contents = await tableContents();
  }
  return contents;
}

beforeAll(async () => {
  env = await setUpEnvironment();
  await env.topology.setNat('forwarding');
  ftpmasq = await startFtpmasq({ tools: env.tools, topology: env.topology, mode: 'kernel' });
});

afterAll(async () => {
  try {
    await ftpmasq?.stop();
  } finally {
    await env?.teardown();
  }
});

describe('ftpmasq --mode kernel: one long-lived nft, no fork per transfer', () => {
  it(`${TRANSFERS} checksummed downloads start no nft process, and leave the table empty`, async () => {
    const [pid] = loggedNftPids();
    expect(pid, logTail()).toBeGreaterThan(0);
    expect(isRunningNft(pid ?? 0)).toBe(true);
    const before = await metrics();
    // The start-up checks and the table are one-shot runs; then the one long-lived nft.
    expect(before.value(STARTED_SESSION)).toBe(1);
    expect(before.value(STARTED_RUN)).toBeGreaterThanOrEqual(2);

    expect(await downloads(TRANSFERS)).toEqual({ sessions: TRANSFERS, intact: TRANSFERS, sha256: SAMPLE_SHA256 });
    expect(await waitForEmptyTable(), logTail()).toEqual({ elements: 0, objects: 0 });

    const after = await metrics();
    console.log(`[e2e] kernel mode, ${TRANSFERS} transfers: nft processes started before ${before.value(STARTED_RUN)} run + ${before.value(STARTED_SESSION)} session, after ${after.value(STARTED_RUN)} + ${after.value(STARTED_SESSION)}; nft pid ${pid}`);
    expect(after.value(STARTED_SESSION)).toBe(before.value(STARTED_SESSION));
    expect(after.value(STARTED_RUN)).toBe(before.value(STARTED_RUN));
    expect(loggedNftPids()).toEqual([pid]);
    expect(isRunningNft(pid ?? 0)).toBe(true);
    expect(after.value('ftpmasq_data_bytes_total{direction="to_client"}') - before.value('ftpmasq_data_bytes_total{direction="to_client"}')).toBeGreaterThanOrEqual(TRANSFERS * 12);
  }, 180_000);

  it("the real nft's replies stay matched: 20 requests queued at once, listings (stdout) and failures (stderr) alternating", async () => {
    const { topology } = requireEnv();
    // NftSession itself, in the gateway's namespace: a counter listing of ftpmasq's table, and a
    // deletion in a table that does not exist (an error, nothing changed), ten of each.
    const session = join(dirname(CLI_PATH), 'kernel', 'nft-session.js');
    const logger = join(dirname(CLI_PATH), 'observability', 'logger.js');
    const code = `
      const { NftSession } = await import(${JSON.stringify(session)});
      const { createLogger } = await import(${JSON.stringify(logger)});
      const nft = new NftSession(createLogger('silent'));
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => index % 2 === 0
        ? nft.listCounters(index % 4 === 0 ? 'urgent' : 'background')
        : nft.apply([{ delete: { counter: { family: 'ip', table: 'ftpmasq_absent', name: 'c' + index } } }], index % 4 === 1 ? 'background' : 'urgent')));
      await nft.close();
      console.log(JSON.stringify({ started: nft.started, results }));`;
    const run = await topology.exec(topology.gateway, process.execPath, ['--input-type=module', '-e', code], { timeoutMs: 30_000 });
    const { started, results } = z.object({ started: z.number(), results: z.array(nftResult) }).parse(jsonOf(run));
    expect(started).toBe(1);
    results.forEach((result, index) => {
      if (index % 2 === 0) {
        expect(result.ok && parseCounterList(result.stdout).ok, JSON.stringify(result)).toBe(true);
      } else {
        expect(result, `request ${index}`).toEqual({ ok: false, error: expect.stringMatching(/^nft: .*Error: /) });
      }
    });
  });

  it('an nft killed between transfers is replaced (counted, logged) and the transfers after it work', async () => {
    const [pid] = loggedNftPids();
    const before = await metrics();
    process.kill(pid ?? 0, 'SIGKILL');
    const deadline = performance.now() + 5000;
    while (isRunningNft(pid ?? 0) && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await downloads(5)).toEqual({ sessions: 5, intact: 5, sha256: SAMPLE_SHA256 });
    expect(await waitForEmptyTable(), logTail()).toEqual({ elements: 0, objects: 0 });
    const after = await metrics();
    expect(after.value(STARTED_SESSION) - before.value(STARTED_SESSION)).toBe(1);
    expect(after.value('ftpmasq_kernel_nft_restarts_total{cause="exited"}') - before.value('ftpmasq_kernel_nft_restarts_total{cause="exited"}')).toBe(1);
    const pids = loggedNftPids();
    expect(pids).toHaveLength(2);
    expect(isRunningNft(pids[1] ?? 0)).toBe(true);
  }, 120_000);

  it('stop deletes the table and ends the nft', async () => {
    const pid = loggedNftPids().at(-1) ?? 0;
    expect(await requireFtpmasq().stop()).toEqual({ code: 0, signal: null });
    expect(await tableContents()).toBeUndefined();
    expect(isRunningNft(pid)).toBe(false);
    expect(existsSync(`/proc/${pid}`) && isRunningNft(pid)).toBe(false);
  });
});
