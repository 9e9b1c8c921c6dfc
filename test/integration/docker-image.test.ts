/**
 * deploy/docker/Dockerfile without a container runtime (none is available where the tests run):
 * its instructions are played on two scratch directories standing for the two stages, with the
 * build context filtered through .dockerignore. So the test proves that the files the image needs
 * are in the context and copied where the entrypoint looks for them, that the build command builds,
 * and that the image's entrypoint, its CMD (the config file, mounted) and its HEALTHCHECK work on
 * what lands in /app.
 *
 * Played differently, and so not proven: `npm ci` (the host's node_modules stand in, linked, since
 * the registry is not ours to download from in a test), `npm prune --omit=dev`, the base image
 * (the host's Node runs everything), the user 10001 (the files are read as the test's user), and
 * Docker's own parsing. docs/OPERATIONS.md ("Container image") lists what is left to test.
 */
import { execFile, spawn } from 'node:child_process';
import { cp, lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Stage, execForm, isIgnored, parseCopy, parseDockerfile, parseDockerignore } from '../helpers/dockerfile.js';

const runFile = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PASSIVE_PORTS = '24910-24919';
/** What each RUN of the build stage means here; a RUN not in this table fails the test. */
const RUN_STAND_INS: Readonly<Record<string, 'link node_modules' | 'npm run build'>> = {
  'npm ci --no-audit --no-fund': 'link node_modules',
  'npm run build && npm prune --omit=dev --no-audit --no-fund': 'npm run build',
};

interface Image {
  /** The runtime stage's file system root. */
  readonly root: string;
  readonly env: ReadonlyMap<string, string>;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  readonly healthcheck: readonly string[];
}

let scratch = '';
let image: Image;

const patterns = parseDockerignore(await readFile(join(ROOT, '.dockerignore'), 'utf8'));
const dockerfile = parseDockerfile(await readFile(join(ROOT, 'deploy', 'docker', 'Dockerfile'), 'utf8'));

/** Copies a path from the build context, leaving out what .dockerignore leaves out. */
async function copyFromContext(source: string, destination: string): Promise<void> {
  if (isIgnored(patterns, source)) throw new Error(`${source} is copied but .dockerignore leaves it out of the context`);
  await cp(join(ROOT, source), destination, {
    recursive: true,
    filter: (path) => !isIgnored(patterns, relative(ROOT, path).split('\\').join('/') || '.'),
  });
}

/** Copies between stages; a symbolic link (the stand-in node_modules) stays a link. */
async function copyFromStage(source: string, destination: string): Promise<void> {
  if ((await lstat(source)).isSymbolicLink()) {
    await mkdir(dirname(destination), { recursive: true });
    await symlink(await readlink(source), destination);
    return;
  }
  await cp(source, destination, { recursive: true });
}

/** Where a COPY puts one source: into the directory when the destination ends with /. */
function destinationOf(workdir: string, destination: string, source: string): string {
  const base = destination.startsWith('/') ? destination : join(workdir, destination);
  return destination.endsWith('/') || destination === '.' ? join(base, source.split('/').at(-1) ?? source) : base;
}

/** Plays one stage's instructions in `root`; returns what the runtime needs to know. */
async function playStage(stage: Stage, root: string, stageRoots: ReadonlyMap<string, string>): Promise<Image> {
  let workdir = '/';
  const env = new Map<string, string>();
  let entrypoint: string[] = [];
  let cmd: string[] = [];
  let healthcheck: string[] = [];
  for (const { keyword, args } of stage.instructions) {
    switch (keyword) {
      case 'WORKDIR':
        workdir = args;
        await mkdir(join(root, workdir), { recursive: true });
        break;
      case 'COPY': {
        const copy = parseCopy(args);
        for (const source of copy.sources) {
          const target = join(root, destinationOf(workdir, copy.destination, source));
          if (copy.fromStage === undefined) await copyFromContext(source, target);
          else {
            const from = stageRoots.get(copy.fromStage);
            if (from === undefined) throw new Error(`COPY --from=${copy.fromStage}: no such stage`);
            await copyFromStage(join(from, source), target);
          }
        }
        break;
      }
      case 'RUN': {
        const standIn = RUN_STAND_INS[args];
        if (standIn === undefined) throw new Error(`RUN ${args}: this test does not know how to play it; add it to RUN_STAND_INS`);
        if (standIn === 'link node_modules') await symlink(join(ROOT, 'node_modules'), join(root, workdir, 'node_modules'));
        else await runFile('npm', ['run', 'build', '--silent'], { cwd: join(root, workdir), timeout: 120_000 });
        break;
      }
      case 'ENV': {
        const [name = '', value = ''] = args.split('=', 2);
        env.set(name, value);
        break;
      }
      case 'ENTRYPOINT':
        entrypoint = execForm(args) ?? [];
        break;
      case 'CMD':
        cmd = execForm(args) ?? [];
        break;
      case 'HEALTHCHECK':
        healthcheck = execForm(args.replace(/^(--\S+\s+)*CMD\s+/, '')) ?? [];
        break;
      case 'USER':
      case 'EXPOSE':
      case 'STOPSIGNAL':
        break;
      default:
        throw new Error(`${keyword}: this test does not know how to play it`);
    }
  }
  return { root, env, entrypoint, cmd, healthcheck };
}

/** An argument list of the image, run here: `node` is this Node, absolute paths are under the stage root. */
function hostArgs(args: readonly string[]): { file: string; args: string[] } {
  const [program = '', ...rest] = args.map((arg) => (arg.startsWith('/') ? join(image.root, arg) : arg));
  if (!program.endsWith('node')) throw new Error(`expected node as the program, got ${program}`);
  return { file: process.execPath, args: rest };
}

function runImage(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { file, args: rest } = hostArgs(args);
  return new Promise((resolve, reject) => {
    execFile(file, rest, { cwd: scratch, env: { ...process.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') reject(error);
      else resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fmq-image-'));
  const stageRoots = new Map<string, string>();
  let last: Image | undefined;
  for (const [index, stage] of dockerfile.stages.entries()) {
    const root = join(scratch, `stage-${index}`);
    await mkdir(root, { recursive: true });
    last = await playStage(stage, root, stageRoots);
    if (stage.name !== undefined) stageRoots.set(stage.name, root);
  }
  if (last === undefined) throw new Error('the Dockerfile has no stage');
  image = last;
}, 180_000);

afterAll(async () => {
  if (scratch !== '') await rm(scratch, { recursive: true, force: true });
});

describe('the image, played without a container runtime', () => {
  it("prints package.json's version from /app (--version)", async () => {
    const manifest: unknown = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    const version: unknown = typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'version') : undefined;
    const result = await runImage([...image.entrypoint, '--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${String(version)}\n` });
  });

  it('holds no test, bench or source file in /app', async () => {
    const app = join(image.root, 'app');
    const { stdout } = await runFile('find', [app, '-path', join(app, 'node_modules'), '-prune', '-o', '-type', 'f', '-print'], { timeout: 20_000 });
    const files = stdout.trim().split('\n').map((path) => relative(app, path));
    expect(files).toContain('dist/cli.js');
    expect(files).toContain('package.json');
    expect(files).toContain('config/ftpmasq.example.yaml');
    expect(files.filter((path) => /^(src|test|bench)\//.test(path) || path.endsWith('.ts'))).toEqual([]);
  });

  it('exits 2 naming the config file when none is mounted', async () => {
    const result = await runImage([...image.entrypoint, ...image.cmd]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(join(image.root, 'etc', 'ftpmasq', 'ftpmasq.yaml'));
    expect(result.stderr).toContain('cannot read the config file');
  });

  describe('with a config file mounted at the CMD path', () => {
    let upstream: net.Server;
    let child: ReturnType<typeof spawn> | undefined;
    let exited: Promise<number | null> = Promise.resolve(null);
    let metricsUrl = '';

    beforeAll(async () => {
      upstream = net.createServer((socket) => {
        socket.on('error', () => socket.destroy());
        socket.end('220 stand-in\r\n');
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      const address = upstream.address();
      if (address === null || typeof address === 'string') throw new Error('no upstream address');
      const configPath = join(image.root, 'etc', 'ftpmasq', 'ftpmasq.yaml');
      await mkdir(dirname(configPath), { recursive: true });
      await writeFile(
        configPath,
        [
          'metricsListen: 127.0.0.1:0',
          'logLevel: info',
          'sites:',
          '  - name: default',
          '    listen: 127.0.0.1:0',
          `    upstream: 127.0.0.1:${address.port}`,
          `    passivePorts: ${PASSIVE_PORTS}`,
          '',
        ].join('\n'),
      );
      const { file, args } = hostArgs([...image.entrypoint, ...image.cmd]);
      const started = spawn(file, args, { cwd: scratch, stdio: ['ignore', 'pipe', 'pipe'] });
      child = started;
      exited = new Promise((resolve) => started.on('exit', (code) => resolve(code)));
      let stdout = '';
      metricsUrl = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line within 10 s: ${stdout}`)), 10_000);
        started.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString('utf8');
          const line = stdout.split('\n').find((candidate) => candidate.includes('"ftpmasq ready"'));
          if (line === undefined) return;
          clearTimeout(timer);
          const parsed: unknown = JSON.parse(line);
          const metrics: unknown = typeof parsed === 'object' && parsed !== null ? Reflect.get(parsed, 'metrics') : undefined;
          resolve(String(metrics));
        });
      });
    });

    afterAll(async () => {
      child?.kill('SIGTERM');
      await exited;
      await new Promise<void>((resolve) => upstream.close(() => resolve()));
    });

    it('starts from the mounted file', () => {
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    });

    it('HEALTHCHECK passes against /healthz', async () => {
      const url = metricsUrl.replace(/\/metrics$/, '/healthz');
      expect(image.env.get('FTPMASQ_HEALTHZ_URL')).toMatch(/\/healthz$/);
      expect((await runImage(image.healthcheck, { FTPMASQ_HEALTHZ_URL: url })).code).toBe(0);
    });

    it('HEALTHCHECK fails on an error status and on a closed port', async () => {
      expect((await runImage(image.healthcheck, { FTPMASQ_HEALTHZ_URL: metricsUrl.replace(/\/metrics$/, '/nothing') })).code).toBe(1);
      const closed = net.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const address = closed.address();
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      if (address === null || typeof address === 'string') throw new Error('no address');
      expect((await runImage(image.healthcheck, { FTPMASQ_HEALTHZ_URL: `http://127.0.0.1:${address.port}/healthz` })).code).toBe(1);
    });

    it('stops on SIGTERM with exit 0 (STOPSIGNAL)', async () => {
      child?.kill('SIGTERM');
      expect(await exited).toBe(0);
    });
  });
});
