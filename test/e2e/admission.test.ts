/**
 * Issue 15, who may connect and what each network is told, with the real ProFTPD behind ftpmasq:
 *
 * - Split horizon: a client on the server's side of the gateway (run inside the server's namespace,
 *   10.0.11.251, whose default route is the gateway's 10.0.11.1) reaches ftpmasq on 10.0.11.1. The
 *   gateway refuses traffic from the private side to the public address, as a router without
 *   hairpin NAT does, so this client can transfer only if its 227 names 10.0.11.1: `advertise`
 *   gives it that address while the public client keeps 203.0.113.10. Checksums on both ends.
 * - A deny list and a per-client session limit answer 421 before any upstream connection, and
 *   /metrics (read inside the gateway namespace) counts each.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientOptions, createClient, describeRun } from '../helpers/clients.js';
import { LARGE_FILE, SAMPLE_FILE, figuresOf } from '../helpers/proftpd.js';
import { type ClientHost, GATEWAY_PRIVATE_ADDRESS, PUBLIC_ADDRESS, SERVER_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest, refusals } from './support/proxy-checks.js';

const DENIED_ADDRESS = '203.0.113.3';
const PUBLIC_ENDPOINT = { address: PUBLIC_ADDRESS, port: 21 } as const;
const PRIVATE_ENDPOINT = { address: GATEWAY_PRIVATE_ADDRESS, port: 21 } as const;

let env: E2eEnvironment | undefined;
let denied: ClientHost | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);

/** The internal client: a host on the server's network (here the server's own namespace). */
function internalHost(): ClientHost {
  return { namespace: requireEnv().topology.server, address: SERVER_ADDRESS };
}

function clientOptions(host: ClientHost, endpoint: { address: string; port: number }): ClientOptions {
  const { tools, topology } = requireEnv();
  return { tools, topology, host, endpoint };
}

/**
 * Opens `count` control connections from one host at once (each held open until all are read) and
 * prints the first reply line of each: what a per-client limit or a deny list answers.
 */
const FIRST_REPLIES = `
import socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
held = []
for _ in range(count):
    s = socket.create_connection((host, port), timeout=5)
    held.append(s)
    line = b''
    while not line.endswith(b'\\n'):
        chunk = s.recv(1)
        if not chunk:
            break
        line += chunk
    print(line.decode('latin1').strip(), flush=True)
for s in held:
    s.close()
`;

async function firstReplies(host: ClientHost, count: number): Promise<string[]> {
  const { tools, topology } = requireEnv();
  const run = await topology.exec(host.namespace, tools.python3, ['-c', FIRST_REPLIES, PUBLIC_ADDRESS, '21', String(count)], { timeoutMs: 20_000 });
  expect(run.code, describeRun(run)).toBe(0);
  return run.stdout.toString('utf8').trim().split('\n');
}

beforeAll(async () => {
  env = await setUpEnvironment();
  denied = await env.topology.addClientHost(DENIED_ADDRESS);
  // No hairpin: the private side cannot use the gateway's public address.
  const { tools, topology } = env;
  const reject = await topology.exec(topology.gateway, tools.iptables, ['-w', '5', '-A', 'INPUT', '-i', 'priv0', '-d', PUBLIC_ADDRESS, '-j', 'REJECT']);
  expect(reject.code, describeRun(reject)).toBe(0);
  const configPath = join(env.clientDir, 'admission.yaml');
  writeFileSync(configPath, `advertise:\n  - clients: [10.0.11.0/24]\n    address: ${GATEWAY_PRIVATE_ADDRESS}\n`);
  await proxy.start([
    '--config', configPath,
    '--listen', `${GATEWAY_PRIVATE_ADDRESS}:21`,
    '--deny-client', `${DENIED_ADDRESS}/32`,
    '--max-sessions-per-client', '2',
  ]);
}, 60_000);

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    await env?.teardown();
  }
});

describe('split horizon: advertise', () => {
  it.each([SAMPLE_FILE, LARGE_FILE])('an internal client is told the private address and downloads %s intact', async (file) => {
    const { proftpd, clientDir } = requireEnv();
    const localPath = join(clientDir, `internal-${file}`);
    const run = await createClient('curl-legacy', clientOptions(internalHost(), PRIVATE_ENDPOINT)).download(file, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(run.stderr).toMatch(/< 227 Entering Passive Mode \(10,0,11,1,\d+,\d+\)/);
    expect(await figuresOf(localPath, file)).toEqual(proftpd.fixtures.get(file));
  });

  it('an internal client uploads intact through the private address', async () => {
    const { proftpd, upload } = requireEnv();
    const run = await createClient('curl-legacy', clientOptions(internalHost(), PRIVATE_ENDPOINT)).upload(upload.path, 'internal-upload.bin');
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    const stored = await figuresOf(join(proftpd.root, 'internal-upload.bin'), 'internal-upload.bin');
    expect({ size: stored.size, sha256: stored.sha256 }).toEqual({ size: upload.size, sha256: upload.sha256 });
  });

  it('the public client is told the public address and downloads intact', async () => {
    const { topology, proftpd, clientDir } = requireEnv();
    const localPath = join(clientDir, `public-${LARGE_FILE}`);
    const run = await createClient('curl-legacy', clientOptions(topology.client, PUBLIC_ENDPOINT)).download(LARGE_FILE, localPath);
    expect(run.code, `${describeRun(run)}\n${proxy.logTail()}`).toBe(0);
    expect(run.stderr).toMatch(/< 227 Entering Passive Mode \(203,0,113,10,\d+,\d+\)/);
    expect(await figuresOf(localPath, LARGE_FILE)).toEqual(proftpd.fixtures.get(LARGE_FILE));
  });

  it('the public address really is unusable from inside: the no-hairpin rule holds', async () => {
    const { tools, topology } = requireEnv();
    const probe = await topology.exec(topology.server, tools.python3, ['-c', `import socket; socket.create_connection(('${PUBLIC_ADDRESS}', 21), timeout=5)`]);
    expect(probe.code).not.toBe(0);
  });
});

describe('access lists and limits', () => {
  it('a denied client gets 421, counted and logged with its address', async () => {
    const before = (await proxy.metrics()).value(refusals('client_denied'));
    expect(await firstReplies(requireDenied(), 1)).toEqual(['421 Service not available for your address.']);
    expect((await proxy.metrics()).value(refusals('client_denied')) - before).toBe(1);
    expect(proxy.records('client denied').map((record) => record['client'])).toContain(DENIED_ADDRESS);
  });

  it('the third concurrent session from one address gets 421, counted', async () => {
    const { topology } = requireEnv();
    const before = (await proxy.metrics()).value(refusals('client_session_limit'));
    const replies = await firstReplies(topology.client, 3);
    expect(replies.slice(0, 2).every((line) => line.startsWith('220'))).toBe(true);
    expect(replies[2]).toBe('421 Too many connections from your address, try again later.');
    expect((await proxy.metrics()).value(refusals('client_session_limit')) - before).toBe(1);
  });
});

function requireDenied(): ClientHost {
  if (denied === undefined) throw new Error(`the client host ${DENIED_ADDRESS} was not created (see the beforeAll error)`);
  return denied;
}
