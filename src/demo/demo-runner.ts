/**
 * `ftpmasq demo`, without the printing: on 127.0.0.1 only, a LegacyFtpServer whose 227 names
 * 10.0.11.251 (like ProFTPD without MasqueradeAddress), ftpmasq in front of it with metrics on,
 * and one download through ftpmasq by a client that trusts the 227 address.
 *
 * Nothing here dials anything but loopback: ftpmasq connects to the port of the upstream's
 * 227 at the upstream's control address (127.0.0.1), never to the address inside it, and the
 * demo's client refuses to dial a 227 address that is not loopback.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import ipaddr from 'ipaddr.js';
import { buildConfig } from '../config/schema.js';
import type { Endpoint } from '../config/values.js';
import { type RunningDaemon, start } from '../daemon.js';
import { dial } from '../net/dial.js';
import type { Logger } from '../observability/logger.js';
import { parse227 } from '../protocol/data-addresses.js';
import { FtpControlClient, receiveOverData, replySummary } from '../probe/ftp-client.js';
import { type DemoSummary, readMetricSamples } from './demo-report.js';
import { LegacyFtpServer } from './legacy-ftp-server.js';

export const DEMO_HOST = '127.0.0.1';
export const DEMO_USER = 'scott';
export const DEMO_PASSWORD = 'tiger';
export const DEMO_FILE = 'sample.txt';
export const DEMO_PRIVATE_ADDRESS = '10.0.11.251';
/** The whole scripted download, metrics read included, must finish within this. */
const SCENARIO_TIMEOUT_MS = 20_000;
const STEP_TIMEOUT_MS = 5000;

/** The demo's file: 2,000 numbered lines of text, the same bytes on every run. */
export function createDemoSample(): Buffer {
  const lines: string[] = [];
  for (let n = 1; n <= 2000; n++) {
    lines.push(`${String(n).padStart(4, '0')} this line left the legacy FTP server and reached you through ftpmasq\n`);
  }
  return Buffer.from(lines.join(''), 'ascii');
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function formatEndpoint(endpoint: Endpoint): string {
  return endpoint.host.includes(':') ? `[${endpoint.host}]:${endpoint.port}` : `${endpoint.host}:${endpoint.port}`;
}

function isLoopback(address: string): boolean {
  return ipaddr.isValid(address) && ipaddr.process(address).range() === 'loopback';
}

export interface RunningDemo {
  readonly summary: DemoSummary;
  /** Stops ftpmasq and the legacy server; every port in summary.ports is closed when it resolves. Idempotent. */
  stop(): Promise<void>;
}

export interface DemoOptions {
  readonly logger: Logger;
}

export async function startDemo(options: DemoOptions): Promise<RunningDemo> {
  const sample = createDemoSample();
  const server = new LegacyFtpServer({
    host: DEMO_HOST,
    advertisedAddress: DEMO_PRIVATE_ADDRESS,
    users: new Map([[DEMO_USER, DEMO_PASSWORD]]),
    files: new Map([[DEMO_FILE, sample]]),
  });
  const serverAddress = await server.listen();
  let daemon: RunningDaemon;
  try {
    const config = buildConfig({
      listen: `${DEMO_HOST}:0`,
      upstream: formatEndpoint(serverAddress),
      metricsListen: `${DEMO_HOST}:0`,
    });
    daemon = await start(config, { logger: options.logger });
  } catch (error) {
    await server.close();
    throw error;
  }
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await daemon.stop();
      await server.close();
    })();
    return stopping;
  };

  const ftpmasq = daemon.addresses[0];
  const metrics = daemon.metricsAddress;
  if (ftpmasq === undefined || metrics === undefined) {
    await stop();
    throw new Error('ftpmasq started without a control listener or metrics endpoint');
  }
  const base: DemoSummary = {
    status: 'failed',
    server: formatEndpoint(serverAddress),
    ftpmasq: formatEndpoint(ftpmasq),
    metricsUrl: `http://${formatEndpoint(metrics)}/metrics`,
    user: DEMO_USER,
    password: DEMO_PASSWORD,
    privateAddress: DEMO_PRIVATE_ADDRESS,
    file: DEMO_FILE,
    serverSize: sample.length,
    serverSha256: sha256(sample),
    ports: [serverAddress.port, ftpmasq.port, metrics.port],
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<DemoSummary>((resolve) => {
    timer = setTimeout(
      () => resolve({ ...base, problem: `the download did not finish within ${SCENARIO_TIMEOUT_MS} ms` }),
      SCENARIO_TIMEOUT_MS,
    );
  });
  const summary = await Promise.race([runScenario(base, ftpmasq, server), timeout]);
  clearTimeout(timer);
  return { summary, stop };
}

/** The trusting client's download through ftpmasq, then the counter from /metrics. */
async function runScenario(base: DemoSummary, ftpmasq: Endpoint, server: LegacyFtpServer): Promise<DemoSummary> {
  let summary = base;
  const fail = (problem: string): DemoSummary => ({ ...summary, status: 'failed', problem });
  let client: FtpControlClient | undefined;
  try {
    client = await FtpControlClient.connect({
      host: ftpmasq.host,
      port: ftpmasq.port,
      connectTimeoutMs: STEP_TIMEOUT_MS,
      replyTimeoutMs: STEP_TIMEOUT_MS,
    });
    const expect = async (command: string | undefined, codes: readonly number[]): Promise<string> => {
      if (client === undefined) throw new Error('no client');
      const reply = command === undefined ? await client.readReply() : await client.command(command);
      const text = replySummary(reply);
      if (!codes.includes(reply.code)) throw new Error(`${command ?? 'greeting'} was answered ${text}`);
      return text;
    };
    await expect(undefined, [220]);
    await expect(`USER ${DEMO_USER}`, [331]);
    await expect(`PASS ${DEMO_PASSWORD}`, [230]);
    await expect('TYPE I', [200]);
    const clientPasv = await expect('PASV', [227]);
    summary = { ...summary, clientPasv, serverPasv: server.pasvReplies.at(-1) };
    const parsed = parse227(Buffer.from(clientPasv, 'latin1'));
    if (!parsed.ok) return fail(`cannot read ftpmasq's 227 (${parsed.reason})`);
    const target = parsed.value;
    // A client that trusts the 227 dials whatever it names; the demo dials loopback only.
    if (!isLoopback(target.host)) {
      return fail(`ftpmasq's 227 names ${target.host}, not a loopback address; the demo does not dial it`);
    }
    summary = { ...summary, dataTarget: `${target.host}:${target.port}` };
    const dataSocket = await dial({ host: target.host, port: target.port, timeoutMs: STEP_TIMEOUT_MS, allowHalfOpen: false });
    const transfer = await receiveOverData(client, `RETR ${DEMO_FILE}`, dataSocket, STEP_TIMEOUT_MS);
    const final = transfer.final;
    if (final === undefined || final.code !== 226) {
      return fail(`RETR ${DEMO_FILE} was answered ${replySummary(final ?? transfer.first)}`);
    }
    await client.quit();
    const digest = createHash('sha256').update(transfer.data).digest('hex');
    summary = {
      ...summary,
      size: transfer.data.length,
      sha256: digest,
      matches: digest === summary.serverSha256 && transfer.data.length === summary.serverSize,
    };
    const metricsText = await httpGet(summary.metricsUrl, STEP_TIMEOUT_MS);
    const rewrites = readMetricSamples(metricsText, 'ftpmasq_rewrites_total');
    // The series carries the site label too: {site="default",kind="pasv"}.
    const rewritesPasv = [...rewrites].find(([labels]) => labels.includes('kind="pasv"'))?.[1];
    if (rewritesPasv === undefined) return fail('GET /metrics has no ftpmasq_rewrites_total{kind="pasv"} sample');
    summary = {
      ...summary,
      rewritesPasv,
      rewritesTotal: [...rewrites.values()].reduce((sum, value) => sum + value, 0),
    };
    if (summary.matches !== true) return fail("the downloaded file differs from the server's copy");
    if (rewritesPasv < 1) return fail('ftpmasq_rewrites_total{kind="pasv"} is 0 after a PASV through ftpmasq');
    return { ...summary, status: 'ok' };
  } catch (error) {
    return fail(error instanceof Error ? error.message : String(error));
  } finally {
    client?.close();
  }
}

function httpGet(url: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { timeout: timeoutMs }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        if (response.statusCode !== 200) reject(new Error(`GET ${url} answered ${response.statusCode ?? '?'}`));
        else resolve(Buffer.concat(chunks).toString('utf8'));
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${url} timed out after ${timeoutMs} ms`)));
    request.on('error', reject);
  });
}
