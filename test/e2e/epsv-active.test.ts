/**
 * Issue 4, the IPv4 half: active mode (PORT/EPRT) relayed by ftpmasq, and the three EPSV modes, with the
 * real ProFTPD (no MasqueradeAddress) behind the gateway and real clients on the public LAN.
 *
 * The gateway does no NAT and no forwarding, and the server has no route to 203.0.113.0/24 of its own.
 * So an active-mode transfer that works proves ftpmasq connected out to the client itself: had the
 * server been sent the client's PORT, its data connection could not have reached 203.0.113.2.
 */
import { chown, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ActiveClientKind, type ClientKind, createClient, describeRun, runFtplibCommands } from '../helpers/clients.js';
import { PUBLIC_ADDRESS, SERVER_ADDRESS, GATEWAY_PRIVATE_ADDRESS } from '../helpers/topology.js';
import type { RunResult } from '../helpers/topology.js';
import type { Figures } from './support/client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest, itTransfersIntact, refusals, traceLines } from './support/proxy-checks.js';

let env: E2eEnvironment | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);
const endpoint = { address: PUBLIC_ADDRESS, port: 21 } as const;
const collected: Figures[] = [];
const CLIENT_ADDRESS_RE = '203\\.0\\.113\\.2';
const KEEP_FILE = 'keep-me.txt';
/** The account ProFTPD's virtual user maps to (test/helpers/proftpd.ts): Debian's nobody/nogroup. */
const FTP_UID = 65534;
const FTP_GID = 65534;

beforeAll(async () => {
  env = await setUpEnvironment();
});

afterAll(async () => {
  if (collected.length > 0) console.table(collected.map(({ sha256, ...rest }) => ({ ...rest, sha256: sha256.slice(0, 16) })));
  try {
    await proxy.stop();
  } finally {
    await env?.teardown();
  }
});

function clientOf(kind: ClientKind) {
  const { tools, topology } = requireEnv();
  return createClient(kind, { tools, topology, host: topology.client, endpoint });
}

function commandsAs(host: 'client' | 'gateway-to-server', commands: readonly string[]) {
  const { tools, topology } = requireEnv();
  return host === 'client'
    ? runFtplibCommands({ tools, topology, host: topology.client, endpoint }, commands)
    : runFtplibCommands(
        {
          tools,
          topology,
          host: { namespace: topology.gateway, address: GATEWAY_PRIVATE_ADDRESS },
          endpoint: { address: SERVER_ADDRESS, port: 21 },
        },
        commands,
      );
}

/** What each active client must show in its dialogue: its own address in PORT/EPRT, and ftpmasq's 200. */
const ACTIVE_TRACES: Readonly<Record<ActiveClientKind, (run: RunResult) => void>> = {
  'curl-eprt': (run) => {
    expect(run.stderr, describeRun(run)).toMatch(new RegExp(`> EPRT \\|1\\|${CLIENT_ADDRESS_RE}\\|\\d+\\|`));
    expect(run.stderr).toMatch(/< 200 EPRT command successful/);
    // EPRT was accepted, so curl had no reason to fall back to PORT.
    expect(traceLines(run, /^> PORT /)).toEqual([]);
  },
  'curl-port': (run) => {
    expect(run.stderr, describeRun(run)).toMatch(new RegExp(`> PORT ${CLIENT_ADDRESS_RE.replaceAll('\\.', ',')},\\d+,\\d+`));
    expect(run.stderr).toMatch(/< 200 PORT command successful/);
    expect(traceLines(run, /^> EPRT /)).toEqual([]);
  },
  'python-ftplib-active': (run) => {
    expect(run.stderr, describeRun(run)).toMatch(new RegExp(`\\*cmd\\* 'PORT ${CLIENT_ADDRESS_RE.replaceAll('\\.', ',')},\\d+,\\d+'`));
    expect(run.stderr).toMatch(/\*resp\* '200 PORT command successful/);
  },
};

describe('active mode: ftpmasq --active relay (the default)', () => {
  let activeBefore = 0;
  beforeAll(async () => {
    await proxy.start([]);
    activeBefore = (await proxy.metrics()).value('ftpmasq_data_connections_total{mode="active"}');
  });

  describe.each(Object.keys(ACTIVE_TRACES) as ActiveClientKind[])('%s', (kind) => {
    itTransfersIntact(
      () => ({
        env: requireEnv(),
        client: clientOf(kind),
        label: 'active-relay',
        checkTrace: ACTIVE_TRACES[kind],
        diagnostics: () => proxy.logTail(),
      }),
      collected,
    );
  });

  it('relayed every one of those data connections itself (ftpmasq_data_connections_total{mode="active"})', async () => {
    const sample = await proxy.metrics();
    const relayed = sample.value('ftpmasq_data_connections_total{mode="active"}') - activeBefore;
    console.log(`[e2e] active relay: ${relayed} active data connections relayed by ftpmasq`);
    // Three clients x (two downloads + one upload); curl's SIZE/REST need none.
    expect(relayed, proxy.logTail()).toBe(9);
    expect(sample.value('ftpmasq_rewrites_total{kind="port"}')).toBeGreaterThanOrEqual(6);
    expect(sample.value('ftpmasq_rewrites_total{kind="eprt"}')).toBeGreaterThanOrEqual(3);
    const closed = proxy.records('data connection closed').filter((record) => record['mode'] === 'active');
    expect(closed.length).toBe(9);
  });

  let unreachable: readonly { command: string; reply: string }[] = [];
  let keptFile: Buffer = Buffer.alloc(0);

  it('forwards a STOR whose PORT target does not listen (the session survives)', async () => {
    const { proftpd } = requireEnv();
    // A file the user already has on the server, which a failed upload must leave alone.
    const path = join(proftpd.root, KEEP_FILE);
    await writeFile(path, 'precious data\n');
    await chown(path, FTP_UID, FTP_GID);
    // Nothing listens on 203.0.113.2:51200: ftpmasq's connection to the client is refused.
    const { run, replies } = await commandsAs('client', ['TYPE I', 'PORT 203,0,113,2,200,0', `STOR ${KEEP_FILE}`, 'NOOP']);
    unreachable = replies;
    keptFile = await readFile(path);
    console.log(`[e2e] STOR with an unreachable PORT target: ${JSON.stringify(replies)}; ${KEEP_FILE} on the server is now ${keptFile.length} bytes`);
    expect(run.code, describeRun(run)).toBe(0);
    expect(replies[1]?.reply).toBe('200 PORT command successful.');
    expect(replies[3]?.reply).toMatch(/^200 /);
  });

  // Regression: ftpmasq used to forward the STOR while its connection to the client failed, so the
  // client was told "226 Transfer complete" and the server file was truncated to 0 bytes. An FTP
  // server that cannot reach the PORT address answers 425 and touches nothing (RFC 959 4.2).
  it('answers that STOR 425 and leaves the server file untouched', () => {
    expect(unreachable[2]?.reply.split('\n').at(-1), JSON.stringify(unreachable)).toMatch(/^425 /);
    expect(keptFile.toString('utf8')).toBe('precious data\n');
  });

  it('answers LPRT and LPSV with 502, never sending them upstream', async () => {
    const { run, replies } = await commandsAs('client', ['LPRT 4,4,203,0,113,2,2,200,0', 'LPSV']);
    expect(run.code, describeRun(run)).toBe(0);
    expect(replies.map((r) => r.reply.slice(0, 3))).toEqual(['502', '502']);
    expect(replies[0]?.reply).toMatch(/LPRT is not implemented/);
  });
});

describe('ftpmasq --epsv translate', () => {
  beforeAll(async () => {
    await proxy.start(['--epsv', 'translate']);
  });

  describe('curl-epsv (curl defaults: EPSV)', () => {
    itTransfersIntact(
      () => ({
        env: requireEnv(),
        client: clientOf('curl-epsv'),
        label: 'epsv-translate',
        checkTrace: (run) => {
          expect(run.stderr, describeRun(run)).toMatch(/^> EPSV\r?$/m);
          expect(run.stderr).toMatch(/< 229 Entering Extended Passive Mode \(\|\|\|\d+\|\)/);
          // The client never needed PASV: EPSV was answered.
          expect(traceLines(run, /^> PASV/)).toEqual([]);
        },
        diagnostics: () => proxy.logTail(),
      }),
      collected,
    );
  });

  it("sent PASV upstream for every EPSV: ProFTPD's 227 became ftpmasq's 229", () => {
    const relayed = proxy.records('passive reply relayed');
    const pairs = relayed.map((record) => `${String(record['from'])} -> ${String(record['to'])}`);
    console.log(`[e2e] --epsv translate, 'passive reply relayed':\n  ${pairs.join('\n  ')}`);
    expect(relayed.length, proxy.logTail()).toBe(3);
    for (const record of relayed) {
      expect(record['from']).toMatch(/^227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)/);
      expect(record['to']).toMatch(/^229 Entering Extended Passive Mode \(\|\|\|6\d{4}\|\)$/);
    }
  });

  it('honours EPSV ALL itself: then PASV, PORT and EPRT get 501', async () => {
    const { run, replies } = await commandsAs('client', [
      'EPSV ALL',
      'PASV',
      'PORT 203,0,113,2,200,0',
      'EPRT |1|203.0.113.2|51200|',
      'EPSV',
    ]);
    expect(run.code, describeRun(run)).toBe(0);
    expect(replies.map((r) => r.reply.slice(0, 3)), JSON.stringify(replies)).toEqual(['200', '501', '501', '501', '229']);
    expect(replies[0]?.reply).toBe('200 EPSV ALL command successful.');
  });

  it('answers EPSV 2 from an IPv4 client with 522 (RFC 2428)', async () => {
    const { replies } = await commandsAs('client', ['EPSV 2', 'EPSV 1']);
    expect(replies.map((r) => r.reply.slice(0, 3)), JSON.stringify(replies)).toEqual(['522', '229']);
  });
});

describe('ftpmasq --epsv disable', () => {
  let refusedBefore = 0;
  beforeAll(async () => {
    await proxy.start(['--epsv', 'disable']);
    refusedBefore = (await proxy.metrics()).value(refusals('epsv_disabled'));
  });

  it('drops EPSV from FEAT as the client sees it (ProFTPD itself offers it)', async () => {
    const direct = await commandsAs('gateway-to-server', ['FEAT']);
    const proxied = await commandsAs('client', ['FEAT', 'EPSV']);
    const features = (reply: string | undefined): string[] =>
      (reply ?? '').split('\n').filter((line) => line.startsWith(' ')).map((line) => line.trim());
    const directFeatures = features(direct.replies[0]?.reply);
    const proxiedFeatures = features(proxied.replies[0]?.reply);
    console.log(`[e2e] FEAT from ProFTPD: ${directFeatures.join(', ')}\n[e2e] FEAT through --epsv disable: ${proxiedFeatures.join(', ')}`);
    expect(directFeatures, describeRun(direct.run)).toContain('EPSV');
    expect(proxiedFeatures, describeRun(proxied.run)).not.toContain('EPSV');
    // Only EPSV went (and the TLS lines, which ProFTPD without mod_tls does not offer anyway).
    expect(proxiedFeatures).toEqual(directFeatures.filter((name) => name !== 'EPSV' && !/^(AUTH|PBSZ|PROT|CCC)\b/.test(name)));
    expect(proxied.replies[1]?.reply).toMatch(/^502 EPSV is disabled/);
  });

  describe('curl-epsv (curl defaults: EPSV, then PASV)', () => {
    itTransfersIntact(
      () => ({
        env: requireEnv(),
        client: clientOf('curl-epsv'),
        label: 'epsv-disable',
        checkTrace: (run) => {
          expect(run.stderr, describeRun(run)).toMatch(/^> EPSV\r?$/m);
          expect(run.stderr).toMatch(/< 502 EPSV is disabled/);
          expect(run.stderr).toMatch(/^> PASV\r?$/m);
          expect(run.stderr).toMatch(/< 227 Entering Passive Mode \(203,0,113,10,\d+,\d+\)/);
        },
        diagnostics: () => proxy.logTail(),
      }),
      collected,
    );
  });

  it('counted each refused EPSV and relayed PASV only', async () => {
    const refused = (await proxy.metrics()).value(refusals('epsv_disabled')) - refusedBefore;
    // curl sends EPSV once per connection (then remembers), plus the EPSV sent by hand above.
    expect(refused, proxy.logTail()).toBe(4);
    for (const record of proxy.records('passive reply relayed')) {
      expect(record['from']).toMatch(/^227 /);
      expect(record['to']).toMatch(/^227 Entering Passive Mode \(203,0,113,10,/);
    }
  });
});
