/**
 * `npm pack` makes a package that runs: the files a deployment needs and nothing of the work tree,
 * the CLI with its run bit, source maps that carry their sources. The tarball is packed with
 * --ignore-scripts (the test run has built dist/ already; a second build here would rewrite
 * dist/ under the integration tests that spawn it), and `prepack` is checked to be the build.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = process.cwd();

interface PackedFile {
  readonly path: string;
  readonly mode: number;
}

let scratch = '';
let packed: readonly PackedFile[] = [];
let unpacked = '';

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fmq-pack-'));
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], {
    cwd: root,
    timeout: 60_000,
  });
  const report: unknown = JSON.parse(stdout);
  if (!Array.isArray(report) || report.length !== 1) throw new Error(`unexpected npm pack output: ${stdout}`);
  const [entry] = report as Array<{ filename: string; files: PackedFile[] }>;
  if (entry === undefined) throw new Error('npm pack reported no package');
  packed = entry.files;
  await run('tar', ['-xzf', join(scratch, entry.filename), '-C', scratch], { timeout: 30_000 });
  unpacked = join(scratch, 'package');
  // The production dependencies, as an install would place them beside the package.
  await symlink(join(root, 'node_modules'), join(unpacked, 'node_modules'));
}, 90_000);

afterAll(async () => {
  if (scratch !== '') await rm(scratch, { recursive: true, force: true });
});

describe('npm pack', () => {
  it('builds before packing', async () => {
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(manifest.scripts['prepack']).toBe('npm run build');
    expect(manifest.scripts['build']).toContain('chmod 755 dist/cli.js');
  });

  it('ships what runs and what an operator reads, and no sources, tests or tooling', () => {
    const paths = packed.map((file) => file.path);
    for (const required of [
      'dist/cli.js',
      'dist/daemon.js',
      'LICENSE',
      'README.md',
      'CHANGELOG.md',
      'package.json',
      'config/ftpmasq.example.yaml',
      'deploy/systemd/ftpmasq.service',
    ]) {
      expect(paths, required).toContain(required);
    }
    expect(paths.filter((path) => /^(src|test|bench|node_modules)\//.test(path) || path.endsWith('.ts'))).toEqual([]);
  });

  it('keeps the run bit on the CLI', async () => {
    const cli = packed.find((file) => file.path === 'dist/cli.js');
    expect(cli?.mode ?? 0).toBe(0o755);
    expect((await stat(join(unpacked, 'dist', 'cli.js'))).mode & 0o111).toBe(0o111);
  });

  it('ships source maps only with their sources inlined', async () => {
    const maps = (await readdir(join(unpacked, 'dist'), { recursive: true })).filter((path) => path.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const map of maps) {
      const parsed = JSON.parse(await readFile(join(unpacked, 'dist', map), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      expect(parsed.sourcesContent?.length, map).toBe(parsed.sources.length);
    }
  });

  it('runs from the unpacked package', async () => {
    const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    const { stdout } = await run(process.execPath, [join(unpacked, 'dist', 'cli.js'), '--version'], { timeout: 20_000 });
    expect(stdout.trim()).toBe(manifest.version);
    const help = await run(process.execPath, [join(unpacked, 'dist', 'cli.js'), '--help'], { timeout: 20_000 });
    expect(help.stdout).toContain('--upstream');
  });
});
