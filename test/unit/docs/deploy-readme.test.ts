/**
 * deploy/README.md stays true to what the tests run: every `npm run` script it names exists, every
 * file it names exists, the image tag is package.json's version, and its `podman run` line uses
 * the settings container:test runs with (the sysctl for port 21, the mounted config file, a stop
 * timeout above the drain timeout).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMEOUTS_MS } from '../../../src/config/schema.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const guide = readFileSync(join(ROOT, 'deploy', 'README.md'), 'utf8');
const manifest: unknown = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const field = (name: string): unknown => (typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, name) : undefined);
const scripts = field('scripts');
const version = String(field('version'));
const containerTest = readFileSync(join(ROOT, 'test', 'deploy', 'container.test.ts'), 'utf8');

/** The shell lines of the ```sh blocks, continuation lines joined. */
function shellLines(text: string): string[] {
  const blocks = [...text.matchAll(/```sh\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
  return blocks.flatMap((block) => block.replace(/\\\n\s*/g, ' ').split('\n')).map((line) => line.trim()).filter((line) => line !== '');
}

describe('deploy/README.md', () => {
  it('names only npm scripts that exist', () => {
    const named = [...guide.matchAll(/npm run ([\w:-]+)/g)].map((match) => match[1] ?? '');
    expect(named.length).toBeGreaterThan(3);
    for (const name of named) expect(typeof scripts === 'object' && scripts !== null ? Reflect.get(scripts, name) : undefined, name).toBeTypeOf('string');
  });

  it('names only files of the clone that exist', () => {
    const paths = [...guide.matchAll(/`((?:deploy|config|docs|test)\/[\w./-]+)`/g)].map((match) => match[1] ?? '');
    expect(paths.length).toBeGreaterThan(5);
    for (const path of paths) expect(existsSync(join(ROOT, path)), path).toBe(true);
  });

  it("tags the image and the tarball with package.json's version", () => {
    for (const [, tag] of guide.matchAll(/localhost\/ftpmasq:([\w.<>-]+)/g)) expect(tag === version || tag === '<version>', tag).toBe(true);
    for (const [, tarballVersion] of guide.matchAll(/ftpmasq-(\d[\w.-]*?)\.(?:tgz|tar)/g)) expect(tarballVersion).toBe(version);
  });

  it('runs the container as container:test does, with a stop timeout above the drain timeout', () => {
    const run = shellLines(guide).find((line) => line.startsWith('podman run '));
    if (run === undefined) throw new Error('no podman run line');
    for (const setting of ['--sysctl net.ipv4.ip_unprivileged_port_start=21', ':/etc/ftpmasq/ftpmasq.yaml:ro']) {
      expect(run).toContain(setting);
      expect(containerTest).toContain(setting.split(' ').at(-1) ?? setting);
    }
    const stopTimeout = Number(/--stop-timeout (\d+)/.exec(run)?.[1]);
    expect(stopTimeout * 1000).toBeGreaterThan(DEFAULT_TIMEOUTS_MS.drain);
  });
});
