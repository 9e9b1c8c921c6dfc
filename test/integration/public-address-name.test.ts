/**
 * `publicAddress` given as a DNS name, through a real daemon on loopback: the 227 names what the
 * name resolves to now, a failed lookup keeps the last good address, and before any lookup
 * succeeded the local address of the control connection is named. The resolver is injected
 * (`resolveName`), so the test decides every answer.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { configFromDocument } from '../../src/config/load-config.js';
import { start, type RunningDaemon } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { delay, RawFtpClient, sha256, trust227, waitUntil, type Endpoint } from '../helpers/raw-ftp-client.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';

const PASSIVE_PORTS = '29150-29179';
const harness = createProxyHarness({ passivePorts: PASSIVE_PORTS });
const CONTENT = Buffer.from(Array.from({ length: 100_000 }, (_, index) => (index * 11) % 239));

const stops: Array<() => Promise<void>> = [];
const clients: RawFtpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

/** The name's answer, changed by the test; an Error makes the lookup fail. */
const dnsAnswer: { value: string | Error; lookups: number } = { value: new Error('unset'), lookups: 0 };
function resolveName(name: string): Promise<string> {
  dnsAnswer.lookups++;
  if (name !== 'ftp.example.test') return Promise.reject(new Error(`unexpected name ${name}`));
  return dnsAnswer.value instanceof Error ? Promise.reject(dnsAnswer.value) : Promise.resolve(dnsAnswer.value);
}

async function startWithName(upstream: string): Promise<{ daemon: RunningDaemon; endpoint: Endpoint }> {
  const config = configFromDocument(
    {
      listen: '127.0.0.1:0',
      metricsListen: 'off',
      passivePorts: PASSIVE_PORTS,
      logLevel: 'silent',
      upstream,
      publicAddress: 'ftp.example.test',
      publicAddressRefresh: '1s',
    },
    { source: 'test' },
  );
  const daemon = await start(config, { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), resolveName });
  stops.push(() => daemon.stop());
  const endpoint = daemon.addresses[0];
  if (endpoint === undefined) throw new Error('no listener');
  return { daemon, endpoint };
}

async function lookupFailures(daemon: RunningDaemon): Promise<number> {
  return (await daemon.metrics.publicAddressLookupFailures.get()).values[0]?.value ?? 0;
}

/** PASV every 100 ms until the 227 names `host` (a refresh is every second); bounded by 5 s. */
async function untilPasvNames(client: RawFtpClient, host: string): Promise<void> {
  let named = '';
  for (let attempt = 0; attempt < 50; attempt++) {
    named = await pasvHost(client);
    if (named === host) return;
    await delay(100);
  }
  throw new Error(`the 227 still names ${named}, not ${host}`);
}

async function pasvHost(client: RawFtpClient): Promise<string> {
  const reply = await client.command('PASV');
  expect(reply.code).toBe(227);
  return trust227(reply).host;
}

describe('publicAddress as a DNS name', () => {
  it('names the address the name resolves to now, in the same session, and keeps the last good one when lookups fail', async () => {
    dnsAnswer.value = '127.0.0.7';
    const { address } = await harness.legacyServer({ files: new Map([['file.bin', CONTENT]]) });
    const { daemon, endpoint } = await startWithName(address);
    await waitUntil(() => dnsAnswer.lookups > 0, 5000, () => 'the first lookup');
    const client = await RawFtpClient.open(endpoint);
    clients.push(client);
    await client.login();
    await untilPasvNames(client, '127.0.0.7');

    // The listener's own address this time, so the transfer below can follow the 227.
    dnsAnswer.value = '127.0.0.1';
    await untilPasvNames(client, '127.0.0.1');

    dnsAnswer.value = new Error('queryA ESERVFAIL ftp.example.test');
    const before = dnsAnswer.lookups;
    await waitUntil(() => dnsAnswer.lookups >= before + 2, 5000, () => 'two failed lookups');
    expect(await pasvHost(client)).toBe('127.0.0.1');
    expect(await lookupFailures(daemon)).toBeGreaterThanOrEqual(2);

    const result = await client.retrieve('file.bin');
    expect(result.final.code).toBe(226);
    expect(sha256(result.data)).toBe(sha256(CONTENT));
  });

  it('names the local address of the control connection until the name first resolves', async () => {
    dnsAnswer.value = new Error('queryA ENOTFOUND ftp.example.test');
    dnsAnswer.lookups = 0;
    const { address } = await harness.legacyServer();
    const { daemon, endpoint } = await startWithName(address);
    await waitUntil(async () => (await lookupFailures(daemon)) > 0, 5000, () => 'a failed lookup');
    const client = await RawFtpClient.open(endpoint);
    clients.push(client);
    await client.login();
    expect(await pasvHost(client)).toBe('127.0.0.1');
  });
});
