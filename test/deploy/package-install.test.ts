/**
 * npm run test:package: the release tarball as an operator installs it (README "Install",
 * deploy/README.md): `npm pack` in the clone (prepack builds), then
 * `npm install -g --omit=dev ./ftpmasq-<version>.tgz` into an empty prefix, then the `ftpmasq`
 * that install put on the PATH, in front of the demo's legacy server on loopback, with a
 * checksummed download and upload through it.
 *
 * The installed bin starts with `#!/usr/bin/env node`, so it runs on whichever `node` comes first
 * on the PATH: here the Node 24 the clone pins (the one running this test), since the machine's
 * own may be older than the package's engines (>=22.12). The production dependencies come from
 * the registry, or from npm's cache where `npm ci` has filled it (--prefer-offline).
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { RawFtpClient, sha256, withTimeout } from '../helpers/raw-ftp-client.js';

const run = promisify(execFile);
const ROOT = process.cwd();
const PASSIVE_PORTS = '29710-29719';
const payload = randomBytes(5 * 1024 * 1024 + 3);
/** PATH with this Node first: what `#!/usr/bin/env node` in the installed bin finds. */
const PATH = [dirname(process.execPath), process.env['PATH'] ?? ''].join(delimiter);

let scratch = '';
let prefix = '';
let version = '';

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fmq-install-'));
  prefix = join(scratch, 'prefix');
  const manifest: unknown = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
  const declared: unknown = typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'version') : undefined;
  version = String(declared);
  const env = { ...process.env, PATH };
  // Scripts run: prepack is the build, as in a fresh clone.
  await run('npm', ['pack', '--silent', '--pack-destination', scratch], { cwd: ROOT, env, timeout: 120_000 });
  const tarball = `ftpmasq-${version}.tgz`;
  // From the folder holding the tarball, with the path README gives: ./ftpmasq-<version>.tgz.
  await run('npm', ['install', '-g', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', `./${tarball}`], {
    cwd: scratch,
    env,
    timeout: 120_000,
  });
}, 240_000);

afterAll(async () => {
  if (scratch !== '') await rm(scratch, { recursive: true, force: true });
});

describe('the packed tarball, installed with npm install -g --omit=dev', () => {
  it('installs the ftpmasq command and the production dependencies only', async () => {
    const installed = join(prefix, 'lib', 'node_modules', 'ftpmasq');
    const { stdout } = await run(join(prefix, 'bin', 'ftpmasq'), ['--version'], { env: { ...process.env, PATH }, timeout: 20_000 });
    expect(stdout.trim()).toBe(version);
    const dependencies = await readdir(join(installed, 'node_modules'));
    for (const name of ['commander', 'pino', 'prom-client', 'yaml', 'zod', 'ipaddr.js']) expect(dependencies).toContain(name);
    for (const name of ['vitest', 'typescript', 'eslint', 'fast-check', 'node']) expect(dependencies).not.toContain(name);
    expect(await readdir(installed)).toEqual(expect.arrayContaining(['dist', 'config', 'deploy', 'LICENSE', 'README.md', 'CHANGELOG.md']));
  });

  it(`runs on Node ${process.versions.node} in front of a legacy server: checksummed download and upload`, async () => {
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
    const upstream = new LegacyFtpServer({ host: '127.0.0.1', files: new Map([['payload.bin', payload]]) });
    const upstreamAddress = await upstream.listen();
    const child = spawn(
      join(prefix, 'bin', 'ftpmasq'),
      ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamAddress.port}`, '--public-address', '127.0.0.1', '--passive-ports', PASSIVE_PORTS, '--metrics-listen', '127.0.0.1:0', '--max-sessions', '100'],
      { cwd: scratch, env: { ...process.env, PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    try {
      const ready = await withTimeout(readyRecord(child.stdout, (text) => (output += text)), 15_000, () => output);
      expect(ready['version']).toBe(version);
      const listen = ready['listen'];
      const [address = ''] = Array.isArray(listen) ? listen.map(String) : [];
      const port = Number(address.split(':').at(-1));
      expect(port).toBeGreaterThan(0);
      // The Node the bin's `#!/usr/bin/env node` found: the first on PATH.
      const exposition = await (await fetch(String(ready['metrics']), { signal: AbortSignal.timeout(5_000) })).text();
      expect(exposition).toContain(`ftpmasq_build_info{version="${version}",node="${process.versions.node}"} 1`);

      const client = await RawFtpClient.open({ host: '127.0.0.1', port });
      try {
        await client.login();
        expect((await client.command('TYPE I')).code).toBe(200);
        const download = await client.retrieve('payload.bin');
        expect(download.setup.text).toMatch(/^227 .*\(127,0,0,1,\d+,\d+\)/);
        expect(download.final.code).toBe(226);
        expect(sha256(download.data)).toBe(sha256(payload));
        const content = randomBytes(1024 * 1024 + 11);
        expect((await client.store('up.bin', content)).final.code).toBe(226);
        expect(sha256(upstream.files.get('up.bin') ?? Buffer.alloc(0))).toBe(sha256(content));
      } finally {
        client.socket.destroy();
      }
      child.kill('SIGTERM');
      expect(await withTimeout(exited, 15_000, () => output)).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await upstream.close();
    }
  });
});

/** The `ftpmasq ready` JSON line on stdout. */
function readyRecord(stdout: NodeJS.ReadableStream, record: (text: string) => void): Promise<Record<string, unknown>> {
  let text = '';
  return new Promise((resolve, reject) => {
    stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      record(chunk.toString('utf8'));
      const line = text.split('\n').find((candidate) => candidate.includes('"ftpmasq ready"'));
      if (line === undefined) return;
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === 'object' && parsed !== null) resolve(Object.fromEntries(Object.entries(parsed)));
      else reject(new Error(`ready line is not an object: ${line}`));
    });
  });
}
