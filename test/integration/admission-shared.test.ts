/**
 * A worker's Site with the shared admission counts (admission-client.ts), in-process with a fake
 * primary: the access lists are decided without asking, an admitted session is released exactly
 * once when it ends, a connection gone while the verdict was awaited is released at once, and a
 * refusal from the primary is the client's 421.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { configFromDocument } from '../../src/config/load-config.js';
import type { SharedAdmission } from '../../src/daemon/admission-client.js';
import { start } from '../../src/daemon.js';
import { createLogger } from '../../src/observability/logger.js';
import { Metrics } from '../../src/observability/metrics.js';
import { type AdmissionDecision, type AdmissionLimits, limitRefusal } from '../../src/site/admission.js';
import { countRefusals, createProxyHarness } from '../helpers/proxy-harness.js';
import { type Endpoint, RawFtpClient, waitUntil } from '../helpers/raw-ftp-client.js';

const PASSIVE_PORTS = '31030-31039';
const harness = createProxyHarness({ passivePorts: PASSIVE_PORTS });

/** A primary the test answers by hand: every claim waits until the test decides it. */
class FakePrimary implements SharedAdmission {
  readonly claims: Array<{ site: string; client: string; limits: AdmissionLimits; decide: (decision: AdmissionDecision) => void }> = [];
  readonly releases: Array<{ site: string; client: string }> = [];

  claim(site: string, client: string, limits: AdmissionLimits): Promise<AdmissionDecision> {
    return new Promise((decide) => this.claims.push({ site, client, limits, decide }));
  }

  release(site: string, client: string): void {
    this.releases.push({ site, client });
  }
}

const stops: Array<() => Promise<void>> = [];
const clients: RawFtpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

async function startShared(primary: FakePrimary, document: Record<string, unknown> = {}) {
  const upstream = await harness.scripted(async (connection) => {
    await connection.greetAndLogin();
    await connection.serve();
  });
  const config = configFromDocument(
    { listen: '127.0.0.1:0', metricsListen: 'off', passivePorts: PASSIVE_PORTS, logLevel: 'silent', upstream: upstream.address, maxSessions: 500, maxSessionsPerClient: 2, ...document },
    { source: 'test' },
  );
  const daemon = await start(config, { logger: createLogger('silent'), metrics: new Metrics({ defaultMetrics: false }), sharedAdmission: primary });
  stops.push(() => daemon.stop());
  const endpoint: Endpoint | undefined = daemon.addresses[0];
  if (endpoint === undefined) throw new Error('no listener');
  return { daemon, endpoint };
}

async function connect(endpoint: Endpoint): Promise<RawFtpClient> {
  const client = await RawFtpClient.connect(endpoint);
  clients.push(client);
  return client;
}

describe("a worker's Site with the primary's counts", () => {
  it('asks with its limits, opens the session on admit, and releases it once when it ends', async () => {
    const primary = new FakePrimary();
    const { endpoint } = await startShared(primary);
    const client = await connect(endpoint);
    await waitUntil(async () => primary.claims.length === 1, 5000, () => 'no claim');
    expect(primary.claims[0]).toMatchObject({ site: 'default', client: '127.0.0.1', limits: { maxSessions: 500, maxSessionsPerClient: 2 } });
    primary.claims[0]?.decide({ kind: 'admit' });
    await client.expectReply(220);
    await client.login();
    expect(primary.releases).toEqual([]);
    await client.close();
    await waitUntil(async () => primary.releases.length === 1, 5000, () => 'no release');
    expect(primary.releases).toEqual([{ site: 'default', client: '127.0.0.1' }]);
  });

  it('a refusal from the primary is the 421 of that limit, counted', async () => {
    const primary = new FakePrimary();
    const { daemon, endpoint } = await startShared(primary);
    const client = await connect(endpoint);
    await waitUntil(async () => primary.claims.length === 1, 5000, () => 'no claim');
    primary.claims[0]?.decide(limitRefusal('client_session_limit', { maxSessions: 500, maxSessionsPerClient: 2 }));
    const reply = await client.readReply();
    expect(reply.text).toBe('421 Too many connections from your address, try again later.\r\n');
    await client.closed;
    expect(await countRefusals(daemon, 'client_session_limit')).toBe(1);
    expect(primary.releases).toEqual([]);
  });

  it('a client gone while the verdict was awaited: an admit is released at once, no session opens', async () => {
    const primary = new FakePrimary();
    const { daemon, endpoint } = await startShared(primary);
    const client = await connect(endpoint);
    await waitUntil(async () => primary.claims.length === 1, 5000, () => 'no claim');
    client.socket.resetAndDestroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    primary.claims[0]?.decide({ kind: 'admit' });
    await waitUntil(async () => primary.releases.length === 1, 5000, () => 'no release');
    expect(daemon.sessionCount()).toBe(0);
  });

  it('a denied client is refused without asking the primary', async () => {
    const primary = new FakePrimary();
    const { daemon, endpoint } = await startShared(primary, { denyClients: ['127.0.0.0/8'] });
    const client = await connect(endpoint);
    expect((await client.readReply()).code).toBe(421);
    expect(primary.claims).toEqual([]);
    expect(await countRefusals(daemon, 'client_denied')).toBe(1);
  });
});
