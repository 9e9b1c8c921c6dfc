/**
 * Faults end to end (issue 11, "Faults end to end"), through ftpmasq in relay mode to the real
 * ProFTPD: the upstream's session process killed mid-download and mid-upload (the client never
 * gets a 2xx for the cut transfer, and the server is used again at once), and a client killed
 * mid-download (ftpmasq releases its passive port and session at once, not after a timeout), and
 * the passive range exhausted and recovered; and the whole server killed mid-download, refused
 * (421) while down, restarted and used again through the same ftpmasq.
 *
 * ProFTPD forks one process per session and titles it with the command it runs
 * (`proftpd: scott - 203.0.113.2: RETR random-64MiB.bin`): the test kills that process, which it
 * started, found by its title among the processes of the namespace it made.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, describeRun } from '../helpers/clients.js';
import { figuresOf, LARGE_FILE, SAMPLE_FILE } from '../helpers/proftpd.js';
import { PUBLIC_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';
import { ProxyUnderTest } from './support/proxy-checks.js';

let env: E2eEnvironment | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};
const proxy = new ProxyUnderTest(requireEnv);

beforeAll(async () => {
  env = await setUpEnvironment();
  await proxy.start([]);
});

afterAll(async () => {
  try {
    await proxy.stop();
  } finally {
    await env?.teardown();
  }
});

const WAIT_MS = 15_000;

/** The pids of the processes inside `namespace` whose command line contains `title`. */
async function pidsTitled(namespace: string, title: string): Promise<number[]> {
  const found: number[] = [];
  for (const text of await pidsOfNamespace(namespace)) {
    const pid = Number(text);
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'latin1').catch(() => '');
    if (cmdline.includes(title)) found.push(pid);
  }
  return found;
}

/** Every process whose network namespace is the named one (`ip netns add` mounts it in /run/netns). */
async function pidsOfNamespace(namespace: string): Promise<string[]> {
  const wanted = await stat(join('/run/netns', namespace)).catch(() => undefined);
  if (wanted === undefined) return [];
  const pids: string[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const own = await stat(`/proc/${entry}/ns/net`).catch(() => undefined);
    if (own !== undefined && own.ino === wanted.ino) pids.push(entry);
  }
  return pids;
}

/** Waits (bounded) for one process titled `title` in `namespace`, then SIGKILLs it. */
async function killWhenRunning(namespace: string, title: string): Promise<number> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const [pid] = await pidsTitled(namespace, title);
    if (pid !== undefined) {
      process.kill(pid, 'SIGKILL');
      return pid;
    }
    if (Date.now() > deadline) throw new Error(`no process titled ${JSON.stringify(title)} in ${namespace} within ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Waits (bounded) until `read` returns true. */
async function eventually(read: () => Promise<boolean>, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await read())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** curl's verbose trace: the server replies it read, `< 226 ...`. */
function positiveCompletions(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((line) => /^< 2(26|50)/.test(line));
}

function client(limitRate?: string): ReturnType<typeof createClient> {
  const { tools, topology } = requireEnv();
  return createClient('curl-legacy', {
    tools,
    topology,
    host: topology.client,
    endpoint: { address: PUBLIC_ADDRESS, port: 21 },
    ...(limitRate === undefined ? {} : { limitRate }),
  });
}

describe('faults through ftpmasq (relay mode) to ProFTPD', () => {
  it(`the upstream's session killed mid-download of ${LARGE_FILE}: no 2xx for the cut transfer; the next download is intact`, async () => {
    const { topology, clientDir, proftpd } = requireEnv();
    const local = join(clientDir, 'killed-download.bin');
    const download = client('8M').download(LARGE_FILE, local);
    await killWhenRunning(topology.server, `RETR ${LARGE_FILE}`);
    const run = await download;
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(positiveCompletions(run.stderr)).toEqual([]);
    expect((await stat(local).catch(() => undefined))?.size ?? 0).toBeLessThan(proftpd.fixtures.get(LARGE_FILE)?.size ?? 0);

    const next = join(clientDir, 'after-kill.txt');
    const again = await client().download(SAMPLE_FILE, next);
    expect(again.code, describeRun(again)).toBe(0);
    expect((await figuresOf(next, SAMPLE_FILE)).sha256).toBe(proftpd.fixtures.get(SAMPLE_FILE)?.sha256);
  });

  it("the upstream's session killed mid-upload: no 2xx for the cut transfer; the next upload is stored whole", async () => {
    const { topology, upload, proftpd } = requireEnv();
    const cut = client('512K').upload(upload.path, 'killed-upload.bin');
    await killWhenRunning(topology.server, 'STOR killed-upload.bin');
    const run = await cut;
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(positiveCompletions(run.stderr)).toEqual([]);

    const again = await client().upload(upload.path, 'after-kill.bin');
    expect(again.code, describeRun(again)).toBe(0);
    expect((await figuresOf(join(proftpd.root, 'after-kill.bin'), 'after-kill.bin')).sha256).toBe(upload.sha256);
  });

  it(`the whole server killed mid-download (master and sessions, kill -9): no 2xx; restarted, the same ftpmasq serves it again`, async () => {
    const { topology, clientDir, proftpd } = requireEnv();
    const local = join(clientDir, 'server-killed.bin');
    const download = client('8M').download(LARGE_FILE, local);
    await killWhenRunning(topology.server, `RETR ${LARGE_FILE}`);
    // The master too, and any other session: nothing of the server is left in its namespace.
    for (const pid of await pidsTitled(topology.server, 'proftpd')) process.kill(pid, 'SIGKILL');
    const run = await download;
    expect(run.code, describeRun(run)).not.toBe(0);
    expect(positiveCompletions(run.stderr)).toEqual([]);
    await eventually(async () => (await pidsTitled(topology.server, 'proftpd')).length === 0, 'a ProFTPD process survived kill -9');
    const refused = await client().download(SAMPLE_FILE, join(clientDir, 'while-down.txt'));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/^< 421 /m);

    await proftpd.restart();
    const next = join(clientDir, 'after-restart.txt');
    const again = await client().download(SAMPLE_FILE, next);
    expect(again.code, describeRun(again)).toBe(0);
    expect((await figuresOf(next, SAMPLE_FILE)).sha256).toBe(proftpd.fixtures.get(SAMPLE_FILE)?.sha256);
    await eventually(async () => (await proxy.metrics()).value('ftpmasq_upstream_up') === 1, 'ftpmasq_upstream_up never came back to 1', 15_000);
  });

  it('a client killed mid-download: ftpmasq releases its passive port and its session at once (no timeout waited for)', async () => {
    const { topology, clientDir } = requireEnv();
    const local = join(clientDir, 'client-killed.bin');
    const download = client('4M').download(LARGE_FILE, local);
    await eventually(async () => (await proxy.metrics()).value('ftpmasq_passive_ports_in_use') === 1, 'the download never held a passive port');
    await killWhenRunning(topology.client.namespace, `ftp://`);
    const run = await download;
    expect(run.code).not.toBe(0);
    // Well under every timeout that could end it otherwise (idle 600 s, data stall 300 s): only
    // the closed sockets can have ended it.
    await eventually(async () => {
      const metrics = await proxy.metrics();
      return metrics.value('ftpmasq_passive_ports_in_use') === 0 && metrics.value('ftpmasq_sessions_active') === 0;
    }, 'the passive port or the session is still held', 5000);
    const records = proxy.records('data connection closed').map((record) => record['reason']);
    expect(records).toContain('client-error');
  });

  it('the passive range exhausted: the next session gets 425 and goes on; once the port is free, downloads work again', async () => {
    const { topology, clientDir, proftpd } = requireEnv();
    // One passive port (a later --passive-ports wins over the helper's).
    await proxy.start(['--passive-ports', '60000-60000']);
    const holder = client('4M').download(LARGE_FILE, join(clientDir, 'holder.bin'));
    await eventually(async () => (await proxy.metrics()).value('ftpmasq_passive_ports_in_use') === 1, 'the first download never held the port');
    const refused = await client().download(SAMPLE_FILE, join(clientDir, 'refused.txt'));
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/^< 425 /m);
    expect((await proxy.metrics()).value('ftpmasq_refusals_total{reason="passive_ports_exhausted"}')).toBe(1);
    // The holder is the only client left: end it, and the port comes back at once.
    await killWhenRunning(topology.client.namespace, 'ftp://');
    await holder;
    await eventually(async () => (await proxy.metrics()).value('ftpmasq_passive_ports_in_use') === 0, 'the port was never released', 5000);
    const local = join(clientDir, 'recovered.txt');
    const recovered = await client().download(SAMPLE_FILE, local);
    expect(recovered.code, describeRun(recovered)).toBe(0);
    expect((await figuresOf(local, SAMPLE_FILE)).sha256).toBe(proftpd.fixtures.get(SAMPLE_FILE)?.sha256);
  });
});
