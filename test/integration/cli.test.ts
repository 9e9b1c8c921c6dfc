/** The built CLI as a process: exit codes, one-line errors, readiness and signals. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));

function runCli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function parseRecord(line: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`not a JSON object: ${line}`);
  return Object.fromEntries(Object.entries(parsed));
}

function manifestVersion(): unknown {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'version') : undefined;
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
});

describe('ftpmasq CLI', () => {
  it.each([
    { args: ['help'], usage: 'Usage: ftpmasq [options] [command]', also: '--upstream <HOST:PORT>' },
    { args: ['help', 'probe'], usage: 'Usage: ftpmasq probe [options] <url>', also: '--json' },
    { args: ['help', 'demo'], usage: 'Usage: ftpmasq demo [options]', also: '--help' },
    { args: ['help', 'check-config'], usage: 'Usage: ftpmasq check-config [options] <file>', also: '--help' },
  ])('`ftpmasq $args` prints that usage on stdout and exits 0', ({ args, usage, also }) => {
    const result = runCli(args);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout.startsWith(usage)).toBe(true);
    expect(result.stdout).toContain(also);
  });

  it('lists `help [command]` among the commands', () => {
    expect(runCli(['--help']).stdout).toMatch(/^ {2}help \[command\] +show help for ftpmasq, or for one command$/m);
  });

  it('`ftpmasq help nosuch` exits 2 with one line naming the topic and the commands', () => {
    const result = runCli(['help', 'nosuch']);
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'ftpmasq: help: no command "nosuch"; the commands are demo, probe, check-config (ftpmasq --help lists the proxy\'s options)\n',
    );
  });

  it('prints usage with every flag for --help and exits 0', () => {
    const result = runCli(['--help']);
    expect(result.status).toBe(0);
    for (const flag of ['--listen', '--upstream', '--public-address', '--passive-ports', '--mode', '--log-level']) {
      expect(result.stdout).toContain(flag);
    }
  });

  const badValues: Array<{ title: string; args: string[]; field: string }> = [
    { title: 'missing upstream', args: [], field: '--upstream' },
    { title: 'port out of range', args: ['--upstream', '10.0.0.1:70000'], field: '--upstream' },
    { title: 'LOW > HIGH', args: ['--upstream', '10.0.0.1:21', '--passive-ports', '61000-60000'], field: '--passive-ports' },
    { title: 'passive port below 1024', args: ['--upstream', '10.0.0.1:21', '--passive-ports', '80-90'], field: '--passive-ports' },
    { title: 'unparseable public address', args: ['--upstream', '10.0.0.1:21', '--public-address', '203.0.113'], field: '--public-address' },
    { title: 'listen host not an IP', args: ['--upstream', '10.0.0.1:21', '--listen', 'localhost:21'], field: '--listen' },
    { title: 'unknown mode', args: ['--upstream', '10.0.0.1:21', '--mode', 'proxy'], field: '--mode' },
    { title: 'unknown log level', args: ['--upstream', '10.0.0.1:21', '--log-level', 'loud'], field: '--log-level' },
    { title: 'an allow block with host bits', args: ['--upstream', '10.0.0.1:21', '--allow-client', '10.0.0.1/24'], field: '--allow-client' },
    {
      title: 'the second of two deny blocks',
      args: ['--upstream', '10.0.0.1:21', '--deny-client', '10.0.0.0/8', '--deny-client', '10.0.0.0/33'],
      field: '--deny-client',
    },
    { title: 'a per-client limit of zero', args: ['--upstream', '10.0.0.1:21', '--max-sessions-per-client', '0'], field: '--max-sessions-per-client' },
  ];
  for (const { title, args, field } of badValues) {
    it(`exits 2 with one line naming ${field} for ${title}`, () => {
      const result = runCli(args);
      expect(result.status).toBe(2);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(field);
      expect(lines[0]).toContain('expected');
    });
  }

  it('exits 2 for an unknown flag', () => {
    const result = runCli(['--upstream', '10.0.0.1:21', '--bogus']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('--bogus');
  });

  it('exits 1 with one line when the listen port is taken', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    if (address === null || typeof address === 'string') throw new Error('no address');
    try {
      const result = runCli(['--upstream', '127.0.0.1:21', '--listen', `127.0.0.1:${address.port}`, '--metrics-listen', 'off']);
      expect(result.status).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain('cannot listen');
    } finally {
      blocker.close();
    }
  });

  describe('as a running proxy', () => {
    let upstream: LegacyFtpServer;
    let upstreamPort = 0;
    beforeAll(async () => {
      upstream = new LegacyFtpServer({ host: '127.0.0.1' });
      upstreamPort = (await upstream.listen()).port;
    });
    afterAll(async () => {
      await upstream.close();
    });

    /** The JSON lines the CLI writes up to and including "ftpmasq ready", under `ulimit -n nofile`; then SIGTERM. */
    async function startUpLines(nofile: number, extraArgs: readonly string[]): Promise<Record<string, unknown>[]> {
      const args = [cli, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--metrics-listen', 'off', '--passive-ports', '23800-23809', ...extraArgs];
      // The shell lowers soft and hard limit, so Node has nothing higher to raise the soft one to.
      const child = spawn('/bin/sh', ['-c', `ulimit -n ${nofile} && exec "$@"`, 'sh', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      let stdout = '';
      const records = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line within 10 s: ${stdout}`)), 10_000);
        child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString('utf8');
          if (!stdout.includes('"ftpmasq ready"')) return;
          clearTimeout(timer);
          const lines = stdout.split('\n').filter((line) => line.startsWith('{'));
          resolve(lines.map(parseRecord));
        });
      });
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      return records;
    }

    it('warns once at start, with the sessions that fit, when the open files limit cannot hold --max-sessions', async () => {
      const records = await startUpLines(4096, []);
      const warnings = records.filter((record) => record['level'] === 'warn');
      // 10000 sessions and 10 passive ports need 2 * 10000 + 2 * 10 + 64; 4096 holds (4096 - 84) / 2.
      expect(warnings).toMatchObject([{ openFilesLimit: 4096, needed: 20_084, maxSessions: 10_000, sessionsWithinLimit: 2006 }]);
      expect(String(warnings[0]?.['msg'])).toMatch(/^open files limit holds fewer sessions than --max-sessions allows; .*LimitNOFILE/);
      expect(records.at(-1)).toMatchObject({ msg: 'ftpmasq ready', openFilesLimit: 4096 });
    });

    it('the ready line says how many workers, the cores, and why fewer: a 10-port range keeps one process under auto', async () => {
      const cores = availableParallelism();
      const ready = (await startUpLines(4096, ['--max-sessions', '2006'])).at(-1);
      expect(ready).toMatchObject({ msg: 'ftpmasq ready', workers: 1, cores });
      if (cores > 1) expect(ready?.['workersLimitedBy']).toBe('site "default" has 10 passive ports (23800-23809); auto gives each worker at least 16');
      const explicit = (await startUpLines(4096, ['--max-sessions', '2006', '--workers', '1'])).at(-1);
      if (cores > 1) expect(explicit?.['workersLimitedBy']).toBe('workers is set to 1');
    });

    it('says nothing about open files once --max-sessions is what the warning named', async () => {
      const records = await startUpLines(4096, ['--max-sessions', '2006']);
      expect(records.filter((record) => record['level'] !== 'info')).toEqual([]);
      expect(records.at(-1)).toMatchObject({ msg: 'ftpmasq ready', openFilesLimit: 4096 });
    });

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`logs "ftpmasq ready" as JSON, serves, and exits 0 on ${signal}`, async () => {
        const child = spawn(
          process.execPath,
          [cli, '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstreamPort}`, '--metrics-listen', 'off', '--passive-ports', '23800-23809'],
          { stdio: ['ignore', 'pipe', 'pipe'] },
        );
        const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
        let stdout = '';
        const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ready line within 10 s: ${stdout}`)), 10_000);
          child.stdout.on('data', (chunk: Buffer) => {
            stdout += chunk.toString('utf8');
            for (const line of stdout.split('\n')) {
              if (!line.includes('"ftpmasq ready"')) continue;
              clearTimeout(timer);
              const parsed: unknown = JSON.parse(line);
              if (typeof parsed === 'object' && parsed !== null) resolve(Object.fromEntries(Object.entries(parsed)));
            }
          });
        });
        expect(ready['version']).toBe(manifestVersion());
        const listen = ready['listen'];
        expect(Array.isArray(listen)).toBe(true);
        const [first] = Array.isArray(listen) ? listen : [];
        const port = Number(String(first).split(':').at(-1));
        const greeting = await new Promise<string>((resolve, reject) => {
          const socket = net.connect(port, '127.0.0.1');
          socket.once('data', (chunk: Buffer) => {
            socket.destroy();
            resolve(chunk.toString('latin1'));
          });
          socket.once('error', reject);
        });
        expect(greeting).toMatch(/^220 /);
        child.kill(signal);
        expect(await exited).toBe(0);
      });
    }
  });
});
