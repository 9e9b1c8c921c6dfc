/**
 * Issue 15 item 4 end to end: Debian's HAProxy in front of ftpmasq with `send-proxy-v2`, the real
 * ProFTPD behind it. In the gateway namespace HAProxy takes 203.0.113.10:21 and the passive range
 * 203.0.113.10:30000-30009 (TCP mode) and forwards both to ftpmasq on 127.0.0.1, the one trusted
 * source. ftpmasq also listens on 203.0.113.10:2121, where clients reach it directly (untrusted).
 *
 * - a client through HAProxy downloads and uploads with checksums: the data-peer check accepts it,
 *   because the data connection's header names the same client as the control connection's;
 * - another host connecting to the passive ports through HAProxy is refused (foreign_data_peer)
 *   while the real client's transfer goes through;
 * - a client sending its own header straight to ftpmasq is closed (proxy_header_untrusted).
 *
 * - upstreamProxyProtocol v2: a second site behind the same HAProxy sends a header to its server,
 *   which greets with the client it names: the real client's address crosses HAProxy, ftpmasq and
 *   reaches the server. Debian 12 has no proftpd-mod-proxy-protocol, so that server is a small
 *   Python listener in the server's namespace (v1 and the data-connection header are proved in
 *   test/integration/proxy-protocol.test.ts, "upstreamProxyProtocol").
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, describeRun } from '../helpers/clients.js';
import { type FtpmasqChild, startFtpmasqWithConfig } from '../helpers/ftpmasq-process.js';
import { requireProgram } from '../helpers/prerequisites.js';
import { FTP_PASSWORD, FTP_USER, LARGE_FILE, SAMPLE_FILE, figuresOf, waitForExit } from '../helpers/proftpd.js';
import { type ClientHost, PUBLIC_ADDRESS, SERVER_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';

const OTHER_HOST = '203.0.113.3';
const PASSIVE_FIRST = 30000;
const PASSIVE_LAST = 30009;
const FTPMASQ_CONTROL = '127.0.0.1:2121';
const DIRECT_PORT = 2121;
const RECORDER_PORT = 2100;
const SECOND_SITE_PORT = 2122;

let env: E2eEnvironment | undefined;
let other: ClientHost | undefined;
let haproxy: ChildProcess | undefined;
let haproxyOutput = '';
let ftpmasq: FtpmasqChild | undefined;
let recorder: ChildProcess | undefined;
let recorderOutput = '';

const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};

function logTail(): string {
  return `ftpmasq:\n${ftpmasq?.output().split('\n').slice(-40).join('\n') ?? ''}\nhaproxy:\n${haproxyOutput.slice(-2000)}`;
}

const HAPROXY_CONFIG = `
global
  maxconn 200
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend control
  bind ${PUBLIC_ADDRESS}:21
  default_backend ftpmasq_control
backend ftpmasq_control
  server ftpmasq ${FTPMASQ_CONTROL} send-proxy-v2
frontend passive
  bind ${PUBLIC_ADDRESS}:${PASSIVE_FIRST}-${PASSIVE_LAST}
  default_backend ftpmasq_passive
frontend recorder
  bind ${PUBLIC_ADDRESS}:${SECOND_SITE_PORT}
  default_backend ftpmasq_recorder
backend ftpmasq_recorder
  server ftpmasq 127.0.0.1:${SECOND_SITE_PORT} send-proxy-v2
backend ftpmasq_passive
  # No port: the port the client connected to, so each passive port goes to the same one on ftpmasq.
  server ftpmasq 127.0.0.1 send-proxy-v2
`;


const FTPMASQ_CONFIG = `
logLevel: debug
sites:
  - name: default
    listen: ["${FTPMASQ_CONTROL}", "${PUBLIC_ADDRESS}:${DIRECT_PORT}"]
    upstream: ${SERVER_ADDRESS}:21
    publicAddress: ${PUBLIC_ADDRESS}
    passivePorts: ${PASSIVE_FIRST}-${PASSIVE_LAST}
    proxyProtocol:
      trusted: [127.0.0.1/32]
    proxyProtocolData: true
  # Behind the same HAProxy, in front of a server that reads PROXY v2 headers itself.
  - name: recorder
    listen: 127.0.0.1:${SECOND_SITE_PORT}
    upstream: ${SERVER_ADDRESS}:${RECORDER_PORT}
    publicAddress: ${PUBLIC_ADDRESS}
    passivePorts: 30010-30019
    proxyProtocol:
      trusted: [127.0.0.1/32]
    upstreamProxyProtocol: v2
`;

/**
 * Stands in for ProFTPD with mod_proxy_protocol (not in Debian 12): reads a v2 header first and
 * greets with the client it names, then answers QUIT.
 */
const HEADER_RECORDER = `
import socket, struct, ipaddress
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(('${SERVER_ADDRESS}', ${RECORDER_PORT}))
server.listen(8)
print('listening', flush=True)
def read_exactly(conn, n):
    data = b''
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data
while True:
    conn, _ = server.accept()
    try:
        fixed = read_exactly(conn, 16)
        if fixed[:12] != b'\\r\\n\\r\\n\\x00\\r\\nQUIT\\n' or fixed[13] != 0x11:
            conn.sendall(b'421 no PROXY v2 TCP4 header\\r\\n')
            conn.close()
            continue
        block = read_exactly(conn, struct.unpack('!H', fixed[14:16])[0])
        source = ipaddress.IPv4Address(block[0:4])
        port = struct.unpack('!H', block[8:10])[0]
        conn.sendall(f'220 header names {source} port {port}\\r\\n'.encode())
        line = conn.recv(100)
        if line.startswith(b'QUIT'):
            conn.sendall(b'221 bye\\r\\n')
    except EOFError:
        pass
    conn.close()
`;

/** ftpmasq_refusals_total{reason} from /metrics inside the gateway. */
async function refusals(reason: string): Promise<number> {
  const { tools, topology } = requireEnv();
  const run = await topology.exec(topology.gateway, tools.curl, ['--silent', '--show-error', '--max-time', '5', 'http://127.0.0.1:9464/metrics']);
  expect(run.code, describeRun(run)).toBe(0);
  const line = run.stdout
    .toString('utf8')
    .split('\n')
    .find((candidate) => candidate.startsWith('ftpmasq_refusals_total{') && candidate.includes('site="default"') && candidate.includes(`reason="${reason}"`));
  if (line === undefined) throw new Error(`no ftpmasq_refusals_total series for ${reason}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

beforeAll(async () => {
  const haproxyPath = requireProgram('haproxy', 'haproxy');
  env = await setUpEnvironment();
  other = await env.topology.addClientHost(OTHER_HOST);
  const { tools, topology, clientDir } = env;
  recorder = spawn(tools.ip, [...topology.execArgs(topology.server), tools.python3, '-c', HEADER_RECORDER], { stdio: ['ignore', 'pipe', 'pipe'] });
  recorder.stdout?.on('data', (chunk: Buffer) => (recorderOutput += chunk.toString('utf8')));
  recorder.stderr?.on('data', (chunk: Buffer) => (recorderOutput += chunk.toString('utf8')));
  for (let attempt = 0; attempt < 50 && !recorderOutput.includes('listening'); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
  if (!recorderOutput.includes('listening')) throw new Error(`the header-recording upstream did not start: ${recorderOutput}`);
  const ftpmasqConfig = join(clientDir, 'proxy-protocol.yaml');
  writeFileSync(ftpmasqConfig, FTPMASQ_CONFIG);
  ftpmasq = await startFtpmasqWithConfig({ tools, topology, configPath: ftpmasqConfig });
  const haproxyConfig = join(clientDir, 'haproxy.cfg');
  writeFileSync(haproxyConfig, HAPROXY_CONFIG);
  // -db: stay in the foreground, so this test owns the process and stops it by its pid.
  haproxy = spawn(tools.ip, [...topology.execArgs(topology.gateway), haproxyPath, '-db', '-f', haproxyConfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy.stdout?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString('utf8')));
  haproxy.stderr?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString('utf8')));
  // Ready when its control port answers: ftpmasq's greeting arrives through it.
  for (let attempt = 0; attempt < 50; attempt++) {
    const probe = await topology.exec(topology.client.namespace, tools.python3, ['-c', `import socket; s=socket.create_connection(('${PUBLIC_ADDRESS}',21),timeout=2); print(s.recv(100))`]);
    if (probe.code === 0 && probe.stdout.includes('220')) return;
    if (haproxy.exitCode !== null) throw new Error(`haproxy exited ${haproxy.exitCode}: ${haproxyOutput}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`haproxy in front of ftpmasq never answered\n${logTail()}`);
}, 90_000);

afterAll(async () => {
  try {
    if (haproxy !== undefined && haproxy.exitCode === null) {
      haproxy.kill('SIGTERM');
      if (!(await waitForExit(haproxy, 5000))) haproxy.kill('SIGKILL');
    }
    await ftpmasq?.stop();
    if (recorder !== undefined && recorder.exitCode === null) {
      recorder.kill('SIGTERM');
      if (!(await waitForExit(recorder, 5000))) recorder.kill('SIGKILL');
    }
  } finally {
    await env?.teardown();
  }
});

const THROUGH_HAPROXY = { address: PUBLIC_ADDRESS, port: 21 } as const;

describe('HAProxy send-proxy-v2 in front of ftpmasq', () => {
  it.each([SAMPLE_FILE, LARGE_FILE])('a client through HAProxy downloads %s intact (the data-peer check accepts the real client)', async (file) => {
    const { tools, topology, proftpd, clientDir } = requireEnv();
    const localPath = join(clientDir, `haproxy-${file}`);
    const run = await createClient('curl-legacy', { tools, topology, host: topology.client, endpoint: THROUGH_HAPROXY }).download(file, localPath);
    expect(run.code, `${describeRun(run)}\n${logTail()}`).toBe(0);
    expect(run.stderr).toMatch(/< 227 Entering Passive Mode \(203,0,113,10,117,\d+\)/);
    expect(await figuresOf(localPath, file)).toEqual(proftpd.fixtures.get(file));
    // ftpmasq saw the real client, not HAProxy's 127.0.0.1.
    const named = ftpmasq?.logRecords.filter((record) => record['msg'] === 'PROXY header').map((record) => String(record['client'])) ?? [];
    expect(named.some((client) => client.startsWith(`${topology.client.address}:`))).toBe(true);
    const starts = ftpmasq?.logRecords.filter((record) => record['msg'] === 'session start') ?? [];
    expect(starts.some((record) => String(record['client']).startsWith(`${topology.client.address}:`) && record['via'] === '127.0.0.1')).toBe(true);
  });

  it('a client through HAProxy uploads intact', async () => {
    const { tools, topology, proftpd, upload } = requireEnv();
    const run = await createClient('curl-legacy', { tools, topology, host: topology.client, endpoint: THROUGH_HAPROXY }).upload(upload.path, 'haproxy-upload.bin');
    expect(run.code, `${describeRun(run)}\n${logTail()}`).toBe(0);
    const stored = await figuresOf(join(proftpd.root, 'haproxy-upload.bin'), 'haproxy-upload.bin');
    expect({ size: stored.size, sha256: stored.sha256 }).toEqual({ size: upload.size, sha256: upload.sha256 });
  });

  it('another host reaching the passive port through HAProxy is refused; the real client still transfers', async () => {
    const { tools, topology, proftpd } = requireEnv();
    const before = await refusals('foreign_data_peer');
    // The client: PASV, then waits while the other host tries every passive port, then RETR.
    const clientScript = `
import ftplib, hashlib, sys, time
f = ftplib.FTP()
f.connect('${PUBLIC_ADDRESS}', 21, timeout=20)
f.login('${FTP_USER}', '${FTP_PASSWORD}')
f.set_pasv(True)
f.voidcmd('TYPE I')
host, port = ftplib.parse227(f.sendcmd('PASV'))
print('port', port, flush=True)
time.sleep(4)
import socket
data = socket.create_connection((host, port), timeout=20)
f.sendcmd('RETR ${SAMPLE_FILE}')
digest = hashlib.sha256()
while True:
    chunk = data.recv(65536)
    if not chunk:
        break
    digest.update(chunk)
data.close()
print('final', f.voidresp(), flush=True)
print('sha256', digest.hexdigest(), flush=True)
f.quit()
`;
    // Every passive port at once (HAProxy accepts each; only the leased one reaches a listener).
    const otherScript = `
import select, socket, time
time.sleep(1)
held = {port: socket.create_connection(('${PUBLIC_ADDRESS}', port), timeout=3) for port in range(${PASSIVE_FIRST}, ${PASSIVE_LAST} + 1)}
deadline = time.time() + 8
while held and time.time() < deadline:
    ready, _, _ = select.select(list(held.values()), [], [], 0.5)
    for s in ready:
        port = next(p for p, c in held.items() if c is s)
        print(port, 'DATA' if s.recv(100) != b'' else 'closed', flush=True)
        s.close()
        del held[port]
for port in held:
    print(port, 'open', flush=True)
`;
    const [client, intruder] = await Promise.all([
      topology.exec(topology.client.namespace, tools.python3, ['-c', clientScript], { timeoutMs: 40_000 }),
      topology.exec(requireOther().namespace, tools.python3, ['-c', otherScript], { timeoutMs: 40_000 }),
    ]);
    expect(client.code, `${describeRun(client)}\n${logTail()}`).toBe(0);
    expect(intruder.code, describeRun(intruder)).toBe(0);
    expect(intruder.stdout.toString('utf8'), `${describeRun(intruder)}\n${logTail()}`).not.toMatch(/DATA/);
    const output = client.stdout.toString('utf8');
    expect(output).toMatch(/final 226/);
    expect(output).toContain(`sha256 ${proftpd.fixtures.get(SAMPLE_FILE)?.sha256 ?? 'missing'}`);
    expect((await refusals('foreign_data_peer')) - before, `${intruder.stdout.toString('utf8')}\n${logTail()}`).toBe(1);
    const refused = ftpmasq?.logRecords.filter((record) => record['reason'] === 'foreign_data_peer').map((record) => record['peer']) ?? [];
    expect(refused).toContain(OTHER_HOST);
  });

  it('a header sent straight to ftpmasq (not from HAProxy) closes the connection, counted', async () => {
    const { tools, topology } = requireEnv();
    const before = await refusals('proxy_header_untrusted');
    const script = `
import socket
s = socket.create_connection(('${PUBLIC_ADDRESS}', ${DIRECT_PORT}), timeout=5)
greeting = s.recv(200)
s.sendall(b'PROXY TCP4 10.0.11.251 ${PUBLIC_ADDRESS} 1234 21\\r\\nUSER ${FTP_USER}\\r\\n')
rest = s.recv(200)
print(greeting[:3].decode(), repr(rest), flush=True)
`;
    const run = await topology.exec(topology.client.namespace, tools.python3, ['-c', script], { timeoutMs: 20_000 });
    expect(run.code, `${describeRun(run)}\n${logTail()}`).toBe(0);
    expect(run.stdout.toString('utf8').trim()).toBe("220 b''");
    expect((await refusals('proxy_header_untrusted')) - before).toBe(1);
    const logged = ftpmasq?.logRecords.filter((record) => String(record['msg']).startsWith('PROXY header from a source not in')).map((record) => record['client']) ?? [];
    expect(logged).toContain(topology.client.address);
  });
});

describe('upstreamProxyProtocol v2 behind HAProxy', () => {
  it('the server behind ftpmasq is told the real client, which HAProxy told ftpmasq', async () => {
    const { tools, topology } = requireEnv();
    const script = `
import socket
s = socket.create_connection(('${PUBLIC_ADDRESS}', ${SECOND_SITE_PORT}), timeout=5)
print(s.recv(200).decode().strip(), flush=True)
s.sendall(b'QUIT\\r\\n')
print(s.recv(200).decode().strip(), flush=True)
`;
    const run = await topology.exec(topology.client.namespace, tools.python3, ['-c', script], { timeoutMs: 20_000 });
    expect(run.code, `${describeRun(run)}\n${logTail()}\n${recorderOutput}`).toBe(0);
    const [greeting, goodbye] = run.stdout.toString('utf8').trim().split('\n');
    expect(greeting).toMatch(/^220 header names \S+ port \d+$/);
    expect(greeting?.split(' ')[3]).toBe(topology.client.address);
    expect(goodbye).toBe('221 bye');
  });
});

function requireOther(): ClientHost {
  if (other === undefined) throw new Error(`the client host ${OTHER_HOST} was not created (see the beforeAll error)`);
  return other;
}
