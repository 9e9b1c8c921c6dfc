/**
 * Sites: one ftpmasq process, started from a YAML config file alone (`ftpmasq --config FILE`), in front of
 * three upstreams in the server namespace:
 *
 *   site alpha  203.0.113.10:21    -> ProFTPD        10.0.11.251:21    passive 60000-60499
 *   site beta   203.0.113.10:2121  -> a 2nd ProFTPD  10.0.11.251:2121  passive 60500-60999
 *   site mute   203.0.113.10:2122  -> a listener that accepts and never sends 220, greetingTimeout 2s
 *
 * Relay mode with the gateway's NAT off: every byte goes through ftpmasq, so each site's passive range is
 * only a range of ports ftpmasq binds in the gateway namespace. The two ProFTPDs have their own
 * ServerName, FTP root (fixtures of their own random bytes) and passive range, so a banner, a checksum
 * or a stored upload tells which upstream a site reached. Legacy curl (PASV, trusting the 227) and
 * Python's ftplib download and upload through each site, checked by SHA-256 on both ends, and each 227
 * must name 203.0.113.10 and a port of that site's range.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientKind, createClient, describeRun, pasvPortsOf } from '../helpers/clients.js';
import { type FtpmasqChild, startFtpmasqWithConfig } from '../helpers/ftpmasq-process.js';
import { JAPANESE_FILE, type ProftpdServer, figuresOf, startProftpd } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS, type RunResult, SERVER_ADDRESS } from '../helpers/topology.js';
import { type Figures, printFigures } from './support/client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { dialFirstReply } from './support/first-reply.js';
import { type SilentUpstream, startSilentUpstream } from './support/silent-upstream.js';
import { type DaemonFileSpec, type SiteSpec, inRange, portRange, writeConfig } from './support/site-config.js';

const LOG_TAIL_LINES = 60;
const MUTE_PORT = 2122;
const GREETING_TIMEOUT_MS = 2_000;
/** A bound, not a benchmark: the 421 must come long before a client would give up by itself. */
const GREETING_REPLY_BOUND_MS = 10_000;
const CLIENTS: readonly ClientKind[] = ['curl-legacy', 'python-ftplib'];

const ALPHA: SiteSpec = {
  name: 'alpha',
  listen: `${PUBLIC_ADDRESS}:21`,
  upstream: `${SERVER_ADDRESS}:21`,
  publicAddress: PUBLIC_ADDRESS,
  passivePorts: '60000-60499',
  mode: 'relay',
};
const BETA: SiteSpec = {
  name: 'beta',
  listen: [`${PUBLIC_ADDRESS}:2121`],
  upstream: `${SERVER_ADDRESS}:2121`,
  publicAddress: PUBLIC_ADDRESS,
  passivePorts: '60500-60999',
  mode: 'relay',
};
const MUTE: SiteSpec = {
  name: 'mute',
  listen: `${PUBLIC_ADDRESS}:${MUTE_PORT}`,
  upstream: `${SERVER_ADDRESS}:${MUTE_PORT}`,
  publicAddress: PUBLIC_ADDRESS,
  passivePorts: '61500-61509',
  mode: 'relay',
  greetingTimeout: `${GREETING_TIMEOUT_MS / 1000}s`,
};
const CONFIG: DaemonFileSpec = { metricsListen: '127.0.0.1:9464', logLevel: 'info', sites: [ALPHA, BETA, MUTE] };

/** The second ProFTPD, beta's upstream: its passive range is its own, apart from the first server's. */
const BETA_SERVER = { name: 'beta', port: 2121, passivePorts: { first: 59000, last: 59499 } } as const;

function portOf(listen: string | readonly string[]): number {
  const first = typeof listen === 'string' ? listen : listen[0];
  const port = Number(first?.split(':').at(-1));
  if (!Number.isInteger(port)) throw new Error(`no port in ${String(first)}`);
  return port;
}

describe('sites: alpha, beta and a mute upstream in one ftpmasq --config', () => {
  let env: E2eEnvironment | undefined;
  let betaServer: ProftpdServer | undefined;
  let mute: SilentUpstream | undefined;
  let ftpmasq: FtpmasqChild | undefined;
  const collected: Figures[] = [];

  const requireEnv = (): E2eEnvironment => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    return env;
  };
  const requireFtpmasq = (): FtpmasqChild => {
    if (ftpmasq === undefined) throw new Error('ftpmasq was not started (see the beforeAll error)');
    return ftpmasq;
  };
  const serverOf = (site: SiteSpec): ProftpdServer => {
    const server = site.name === 'beta' ? betaServer : env?.proftpd;
    if (server === undefined) throw new Error(`no upstream for site ${site.name} (see the beforeAll error)`);
    return server;
  };
  const logTail = (): string => {
    if (ftpmasq === undefined) return '';
    const lines = ftpmasq.output().trimEnd().split('\n');
    return `--- ftpmasq ${ftpmasq.args.join(' ')} (${ftpmasq.running() ? 'running' : 'EXITED'}), last ${LOG_TAIL_LINES} lines ---\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`;
  };
  const failure = (what: string, run: RunResult): string => `${what}\n${describeRun(run)}\n${logTail()}`;

  beforeAll(async () => {
    env = await setUpEnvironment();
    // The environment's work dir (the client dir's parent), removed by its teardown.
    const workDir = join(env.clientDir, '..');
    betaServer = await startProftpd({ tools: env.tools, topology: env.topology, workDir, instance: BETA_SERVER });
    mute = await startSilentUpstream(env.tools.ip, env.topology, SERVER_ADDRESS, MUTE_PORT);
    const configPath = join(workDir, 'ftpmasq-sites.yaml');
    await writeConfig(configPath, CONFIG);
    ftpmasq = await startFtpmasqWithConfig({ tools: env.tools, topology: env.topology, configPath });
  });

  afterAll(async () => {
    if (collected.length > 0) console.table(collected.map(({ sha256, ...rest }) => ({ ...rest, sha256: sha256.slice(0, 16) })));
    try {
      await ftpmasq?.stop();
      await mute?.stop();
      await betaServer?.stop();
    } finally {
      await env?.teardown();
    }
  });

  describe.each([ALPHA, BETA])('site $name', (site) => {
    const endpoint = { address: PUBLIC_ADDRESS, port: portOf(site.listen) };
    const range = portRange(site.passivePorts);

    it("greets with its own upstream's banner", async () => {
      const { tools, topology } = requireEnv();
      const { reply, run } = await dialFirstReply(tools, topology, topology.client, endpoint, 10_000);
      expect(reply.outcome, failure('no banner', run)).toBe('reply');
      if (reply.outcome === 'reply') expect(reply.line.trim(), failure('banner', run)).toBe(serverOf(site).banner);
    });

    describe.each(CLIENTS)('%s', (kind) => {
      const clientFor = () => {
        const { tools, topology } = requireEnv();
        return createClient(kind, { tools, topology, host: topology.client, endpoint });
      };
      const expectPasv = (run: RunResult): void => {
        const replies = run.stderr.match(/227 Entering Passive Mode \([\d,]+\)/g) ?? [];
        expect(replies.length, failure('no 227 in the client trace', run)).toBeGreaterThan(0);
        for (const reply of replies) expect(reply, failure('227 address', run)).toContain(`(${PUBLIC_ADDRESS.replaceAll('.', ',')},`);
        for (const port of pasvPortsOf(run.stderr)) {
          expect(inRange(port, range), failure(`227 port ${port} outside ${site.name}'s ${site.passivePorts}`, run)).toBe(true);
        }
      };

      it(`downloads ${JAPANESE_FILE} from its own upstream intact`, async () => {
        const expected = serverOf(site).fixtures.get(JAPANESE_FILE);
        if (expected === undefined) throw new Error(`no fixture ${JAPANESE_FILE}`);
        const localPath = join(requireEnv().clientDir, `sites-${site.name}-${kind}.jpg`);
        const run = await clientFor().download(JAPANESE_FILE, localPath);
        expect(run.code, failure(`RETR through ${site.name} failed`, run)).toBe(0);
        expectPasv(run);
        const received = await figuresOf(localPath, JAPANESE_FILE);
        expect(received, `client-side figures of ${JAPANESE_FILE} through site ${site.name}`).toEqual(expected);
        const figures: Figures = { mode: `site ${site.name}`, client: kind, direction: 'download', file: JAPANESE_FILE, size: received.size, sha256: received.sha256, ms: run.durationMs };
        collected.push(figures);
        printFigures(figures);
      });

      it("uploads 5 MiB intact into its own upstream's root, and only there", async () => {
        const { upload } = requireEnv();
        const remoteName = `sites-${site.name}-${kind}.bin`;
        const run = await clientFor().upload(upload.path, remoteName);
        expect(run.code, failure(`STOR through ${site.name} failed`, run)).toBe(0);
        expectPasv(run);
        const stored = await figuresOf(join(serverOf(site).root, remoteName), remoteName);
        expect({ size: stored.size, sha256: stored.sha256 }, `server-side figures of ${remoteName}`).toEqual({ size: upload.size, sha256: upload.sha256 });
        const other = serverOf(site.name === 'beta' ? ALPHA : BETA);
        expect(existsSync(join(other.root, remoteName)), `${remoteName} must not reach the other site's upstream`).toBe(false);
        const figures: Figures = { mode: `site ${site.name}`, client: kind, direction: 'upload', file: remoteName, size: stored.size, sha256: stored.sha256, ms: run.durationMs };
        collected.push(figures);
        printFigures(figures);
      });
    });
  });

  it(`site mute: an upstream that never greets gets the client a 421 after greetingTimeout ${GREETING_TIMEOUT_MS} ms`, async () => {
    const { tools, topology } = requireEnv();
    const silent = mute;
    if (silent === undefined) throw new Error('the silent upstream was not started (see the beforeAll error)');
    const acceptsBefore = silent.accepts();
    const { reply, run } = await dialFirstReply(tools, topology, topology.client, { address: PUBLIC_ADDRESS, port: MUTE_PORT }, GREETING_REPLY_BOUND_MS);
    console.log(`[e2e] site mute: ${JSON.stringify(reply)}`);
    expect(reply.outcome, failure(`no reply within ${GREETING_REPLY_BOUND_MS} ms`, run)).toBe('reply');
    if (reply.outcome !== 'reply') return;
    expect(reply.line, failure('the reply to a client whose upstream never greets', run)).toMatch(/^421[ -]/);
    // Not before the upstream had its chance: ftpmasq reached it and waited for the 220.
    expect(reply.elapsedMs, failure('421 before the greeting timeout ran out', run)).toBeGreaterThanOrEqual(GREETING_TIMEOUT_MS / 2);
    expect(silent.accepts(), 'connections the silent upstream accepted').toBeGreaterThan(acceptsBefore);
  });

  it('is still running after every site was used, and exits 0 on SIGTERM', async () => {
    const proxy = requireFtpmasq();
    expect(proxy.running(), logTail()).toBe(true);
    proxy.signal('SIGTERM');
    const exit = await proxy.waitForExit(15_000);
    expect(exit, logTail()).toEqual({ code: 0, signal: null, elapsedMs: expect.any(Number) });
    console.log(`[e2e] sites: ${proxy.logRecords.length} log records; exit 0 ${exit?.elapsedMs ?? '?'} ms after SIGTERM`);
  });
});
