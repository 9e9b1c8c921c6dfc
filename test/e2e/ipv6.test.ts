/**
 * Issue 4, the IPv6 front end: the public LAN is dual-stack (clients 2001:db8:113::x, the gateway
 * 2001:db8:113::10), the server side stays IPv4-only (ProFTPD `UseIPv6 off`, no IPv6 address in the
 * server namespace). An IPv6 client speaks EPSV/EPRT to ftpmasq, which speaks IPv4 to ProFTPD.
 *
 * One ftpmasq, three listeners, as an operator would deploy it:
 *   --listen 203.0.113.10:21 --listen [2001:db8:113::10]:21   one per family on port 21
 *   --listen [::]:2121                                         one dual-stack listener (IPv4 arrives mapped)
 * and --public-address 203.0.113.10 (the harness always passes it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClientKind,
  type ClientOptions,
  type FtpEndpoint,
  createClient,
  describeRun,
  runFtplibCommands,
} from '../helpers/clients.js';
import { SAMPLE_FILE, figuresOf } from '../helpers/proftpd.js';
import { type ClientHost, PUBLIC_ADDRESS, PUBLIC_ADDRESS6, type RunResult } from '../helpers/topology.js';
import type { Figures } from './support/client-matrix.js';
import { printFigures } from './support/client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest, itTransfersIntact, refusals, traceLines, withListener } from './support/proxy-checks.js';

const DUAL_STACK_PORT = 2121;
const BOUNCE_TARGET = '203.0.113.3';
const BOUNCE_PORT = 5000;
const endpoint6: FtpEndpoint = { address: PUBLIC_ADDRESS6, port: 21 };

let env: E2eEnvironment | undefined;
let target: ClientHost | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);
const collected: Figures[] = [];

beforeAll(async () => {
  env = await setUpEnvironment();
  await env.topology.enableIpv6();
  target = await env.topology.addClientHost(BOUNCE_TARGET);
  await proxy.start(['--listen', `[${PUBLIC_ADDRESS6}]:21`, '--listen', `[::]:${DUAL_STACK_PORT}`]);
});

afterAll(async () => {
  if (collected.length > 0) console.table(collected.map(({ sha256, ...rest }) => ({ ...rest, sha256: sha256.slice(0, 16) })));
  try {
    await proxy.stop();
  } finally {
    await env?.teardown();
  }
});

function clientAddress6(): string {
  const address6 = requireEnv().topology.client.address6;
  if (address6 === undefined) throw new Error('the client host has no IPv6 address (enableIpv6 failed?)');
  return address6;
}

function options(endpoint: FtpEndpoint): ClientOptions {
  const { tools, topology } = requireEnv();
  return { tools, topology, host: topology.client, endpoint };
}

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe(`IPv6 clients on [${PUBLIC_ADDRESS6}]:21, IPv4-only ProFTPD behind`, () => {
  describe('python-ftplib, passive (EPSV on IPv6)', () => {
    itTransfersIntact(
      () => ({
        env: requireEnv(),
        client: createClient('python-ftplib', options(endpoint6)),
        label: 'ipv6',
        checkTrace: (run) => {
          expect(run.stderr, describeRun(run)).toMatch(/\*cmd\* 'EPSV'/);
          expect(run.stderr).toMatch(/\*resp\* '229 Entering Extended Passive Mode \(\|\|\|6\d{4}\|\)'/);
          expect(traceLines(run, /\*cmd\* 'PASV'/)).toEqual([]);
        },
        diagnostics: () => proxy.logTail(),
      }),
      collected,
    );
  });

  describe('python-ftplib, active (EPRT |2|...|)', () => {
    itTransfersIntact(
      () => ({
        env: requireEnv(),
        client: createClient('python-ftplib-active', options(endpoint6)),
        label: 'ipv6',
        checkTrace: (run) => {
          expect(run.stderr, describeRun(run)).toMatch(new RegExp(`\\*cmd\\* 'EPRT \\|2\\|${escape(clientAddress6())}\\|\\d+\\|'`));
          expect(run.stderr).toMatch(/\*resp\* '200 EPRT command successful\.'/);
        },
        diagnostics: () => proxy.logTail(),
      }),
      collected,
    );
  });

  it('talked IPv6 to the client and IPv4 to ProFTPD', () => {
    const starts = proxy.records('session start').map((record) => String(record['client']));
    expect(starts.some((client) => client.startsWith(`${clientAddress6()}:`)), starts.join(', ')).toBe(true);
    // ProFTPD (IPv4) answered the forwarded EPSV with its own port; the client got ftpmasq's.
    const relayed = proxy.records('passive reply relayed');
    expect(relayed.length, proxy.logTail()).toBeGreaterThanOrEqual(3);
    for (const record of relayed) {
      expect(record['from']).toMatch(/^229 Entering Extended Passive Mode \(\|\|\|6\d{4}\|\)/);
      expect(record['to']).toMatch(/^229 Entering Extended Passive Mode \(\|\|\|6\d{4}\|\)$/);
    }
    const active = proxy.records('data connection closed').filter((record) => record['mode'] === 'active');
    expect(active.length).toBe(3);
  });

  it.each<ClientKind>(['curl-epsv', 'curl-eprt'])('%s downloads sample.txt over IPv6 too', async (kind) => {
    const { clientDir, proftpd } = requireEnv();
    const localPath = `${clientDir}/ipv6-${kind}-${SAMPLE_FILE}`;
    const run = await createClient(kind, options(endpoint6)).download(SAMPLE_FILE, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    if (kind === 'curl-eprt') expect(run.stderr).toMatch(new RegExp(`> EPRT \\|2\\|${escape(clientAddress6())}\\|\\d+\\|`));
    else expect(run.stderr).toMatch(/< 229 Entering Extended Passive Mode/);
    const received = await figuresOf(localPath, SAMPLE_FILE);
    expect(received).toEqual(proftpd.fixtures.get(SAMPLE_FILE));
    const figures: Figures = { mode: 'ipv6', client: kind, direction: 'download', file: SAMPLE_FILE, size: received.size, sha256: received.sha256, ms: run.durationMs };
    collected.push(figures);
    printFigures(figures);
  });

  let pasvReplies: readonly { command: string; reply: string }[] = [];
  let ipv6PasvRefusals = 0;

  it('answers a PASV sent by hand from the IPv6 client, and EPSV after it still works', async () => {
    const before = (await proxy.metrics()).value(refusals('ipv6_pasv'));
    const { run, replies } = await runFtplibCommands(options(endpoint6), ['PASV', 'EPSV']);
    console.log(`[e2e] IPv6 client, PASV by hand: ${JSON.stringify(replies)}`);
    expect(run.code, describeRun(run)).toBe(0);
    expect(replies[1]?.reply).toMatch(/^229 /);
    pasvReplies = replies;
    ipv6PasvRefusals = (await proxy.metrics()).value(refusals('ipv6_pasv')) - before;
  });

  // Regression: with an IPv4 --public-address, as in the README's deployment line, an IPv6 client's
  // PASV used to get a 227 for a port bound on [2001:db8:113::10] only, and the next RETR hung.
  // docs/SECURITY.md and the README promise 425.
  it('the PASV reply is a clear 425 that names EPSV, and is counted (docs/SECURITY.md)', () => {
    expect(pasvReplies[0]?.reply, `${JSON.stringify(pasvReplies)}\n${proxy.logTail()}`).toMatch(/^425 .*EPSV/);
    expect(ipv6PasvRefusals).toBe(1);
  });

  it('applies the bounce checks to EPRT |2|: another host 500, the other family 500, a low port 504', async () => {
    const address6 = clientAddress6();
    const targetAddress6 = requireTarget().address6;
    if (targetAddress6 === undefined) throw new Error(`${BOUNCE_TARGET} has no IPv6 address`);
    const before = await proxy.metrics();
    let replies: readonly { command: string; reply: string }[] = [];
    const seen = await withListener(requireEnv(), requireTarget(), targetAddress6, BOUNCE_PORT, async () => {
      const result = await runFtplibCommands(options(endpoint6), [
        'TYPE I',
        `EPRT |2|${targetAddress6}|${BOUNCE_PORT}|`,
        `RETR ${SAMPLE_FILE}`,
        // The client's own IPv4 address is still not the address of this control connection.
        `EPRT |1|${requireEnv().topology.client.address}|${BOUNCE_PORT}|`,
        'PORT 203,0,113,2,19,136',
        `EPRT |2|${address6}|1023|`,
        // The same host written longhand is the same host: refused only for the port.
        `EPRT |2|${address6.replace('::', ':0:0:0:0:')}|1023|`,
      ]);
      expect(result.run.code, describeRun(result.run)).toBe(0);
      replies = result.replies;
    });
    console.log(`[e2e] IPv6 bounce attempts: ${JSON.stringify(replies)}; accepts during the attempts: ${JSON.stringify(seen.duringAttempts)}, from the gateway probe: ${JSON.stringify(seen.fromGatewayProbe)}`);
    const foreign = '500 Illegal PORT command: address must be your own.';
    const privileged = '504 Illegal PORT command: port below 1024.';
    expect(replies.map((r) => r.reply), JSON.stringify(replies)).toEqual([
      '200 Type set to I',
      foreign,
      expect.stringMatching(/^[45]\d\d /),
      foreign,
      foreign,
      privileged,
      privileged,
    ]);
    expect(seen.duringAttempts, proxy.logTail()).toEqual([]);
    expect(seen.fromGatewayProbe).toEqual([PUBLIC_ADDRESS6]);
    const after = await proxy.metrics();
    expect(after.value(refusals('bounce_foreign_host')) - before.value(refusals('bounce_foreign_host'))).toBe(3);
    expect(after.value(refusals('bounce_privileged_port')) - before.value(refusals('bounce_privileged_port'))).toBe(2);
  });
});

describe(`one dual-stack listener, [::]:${DUAL_STACK_PORT}`, () => {
  const cases: readonly { title: string; kind: ClientKind; address: () => string; trace: RegExp }[] = [
    {
      title: 'IPv4 ftplib, PASV (the 227 names 203.0.113.10)',
      kind: 'python-ftplib',
      address: () => PUBLIC_ADDRESS,
      trace: /\*resp\* '227 Entering Passive Mode \(203,0,113,10,\d+,\d+\)\.'/,
    },
    {
      title: 'IPv4 ftplib, PORT (its address arrives IPv4-mapped, and matches)',
      kind: 'python-ftplib-active',
      address: () => PUBLIC_ADDRESS,
      trace: /\*resp\* '200 PORT command successful\.'/,
    },
    {
      title: 'IPv6 ftplib, EPSV',
      kind: 'python-ftplib',
      address: () => PUBLIC_ADDRESS6,
      trace: /\*resp\* '229 Entering Extended Passive Mode \(\|\|\|6\d{4}\|\)'/,
    },
  ];

  it.each(cases)('$title: downloads sample.txt intact', async ({ kind, address, trace }) => {
    const { clientDir, proftpd } = requireEnv();
    const localPath = `${clientDir}/dual-${kind}-${address().replaceAll(':', '_')}-${SAMPLE_FILE}`;
    const run: RunResult = await createClient(kind, options({ address: address(), port: DUAL_STACK_PORT })).download(SAMPLE_FILE, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(run.stderr).toMatch(trace);
    const received = await figuresOf(localPath, SAMPLE_FILE);
    expect(received).toEqual(proftpd.fixtures.get(SAMPLE_FILE));
    const figures: Figures = { mode: `dual-stack ${address()}`, client: kind, direction: 'download', file: SAMPLE_FILE, size: received.size, sha256: received.sha256, ms: run.durationMs };
    collected.push(figures);
    printFigures(figures);
  });
});

describe(`--epsv translate: an IPv6 client's EPSV becomes PASV towards the IPv4 server`, () => {
  beforeAll(async () => {
    await proxy.start(['--listen', `[${PUBLIC_ADDRESS6}]:21`, '--epsv', 'translate']);
  });

  it('python-ftplib over IPv6 downloads sample.txt intact; ProFTPD got PASV, the client a 229', async () => {
    const { clientDir, proftpd } = requireEnv();
    const localPath = `${clientDir}/ipv6-translate-${SAMPLE_FILE}`;
    const run = await createClient('python-ftplib', options(endpoint6)).download(SAMPLE_FILE, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(run.stderr).toMatch(/\*resp\* '229 Entering Extended Passive Mode \(\|\|\|6\d{4}\|\)'/);
    const received = await figuresOf(localPath, SAMPLE_FILE);
    expect(received).toEqual(proftpd.fixtures.get(SAMPLE_FILE));
    const relayed = proxy.records('passive reply relayed');
    expect(relayed.map((record) => String(record['from']))).toEqual([expect.stringMatching(/^227 Entering Passive Mode \(10,0,11,251,/)]);
    expect(relayed.map((record) => String(record['to']))).toEqual([expect.stringMatching(/^229 Entering Extended Passive Mode \(\|\|\|6\d{4}\|\)$/)]);
    const figures: Figures = { mode: 'ipv6 epsv-translate', client: 'python-ftplib', direction: 'download', file: SAMPLE_FILE, size: received.size, sha256: received.sha256, ms: run.durationMs };
    collected.push(figures);
    printFigures(figures);
  });

  it('answers EPSV 1 from an IPv6 client with 522, EPSV 2 with 229', async () => {
    const { replies } = await runFtplibCommands(options(endpoint6), ['EPSV 1', 'EPSV 2']);
    expect(replies.map((r) => r.reply.slice(0, 3)), JSON.stringify(replies)).toEqual(['522', '229']);
    expect(replies[0]?.reply).toMatch(/use \(2\)/);
  });
});

function requireTarget(): ClientHost {
  if (target === undefined) throw new Error(`the client host ${BOUNCE_TARGET} was not created (see the beforeAll error)`);
  return target;
}
