/**
 * Issue 6: a newcomer's first command, run as the README says, in a fresh clone: the README's first
 * code block's demo line, exactly (`npm ci && npm run demo`), through `sh -c`, with npm's cache only
 * (`npm_config_offline`: CI has run `npm ci` in the checkout before this tier, so the cache holds every
 * package, and the test never reaches for the registry). The clone is of the committed HEAD.
 *
 * Needs git and npm; no root and no namespaces (it dials only loopback).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createDemoSample } from '../../src/demo/demo-runner.js';
import { type DemoProcess, isListening, startDemoProcess } from '../helpers/demo-process.js';
import { runChecked } from '../helpers/topology.js';
import { demoCommandOf, firstCodeBlock } from '../integration/support/readme.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
/** `npm ci` from the cache and a build: about 15 s on a laptop; generous for CI. */
const SUMMARY_TIMEOUT_MS = 240_000;
const EXIT_TIMEOUT_MS = 15_000;

let workDir: string | undefined;
let demo: DemoProcess | undefined;

afterAll(async () => {
  await demo?.kill();
  if (workDir !== undefined) await rm(workDir, { recursive: true, force: true });
});

describe('README, first screen, in a fresh clone', () => {
  it(
    'the demo line of the first code block works as written, and Ctrl-C stops it cleanly',
    async () => {
      const command = demoCommandOf(firstCodeBlock(readme));
      expect(command).toBe('npm ci && npm run demo');
      workDir = await mkdtemp(join(tmpdir(), 'fmq-readme-'));
      const clone = join(workDir, 'ftpmasq');
      await runChecked('git', ['clone', '--quiet', root, clone], { timeoutMs: 60_000 });
      demo = startDemoProcess('sh', ['-c', command], {
        cwd: clone,
        env: { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false' },
      });
      const summary = await demo.waitForSummary(SUMMARY_TIMEOUT_MS);
      expect(summary.status, demo.output()).toBe('ok');
      expect(summary.sha256).toBe(createHash('sha256').update(createDemoSample()).digest('hex'));
      expect(summary.rewritesPasv).toBeGreaterThanOrEqual(1);
      await demo.waitForLine((line) => line.includes('press Ctrl-C'), 5000);
      demo.interrupt();
      await demo.waitForExit(EXIT_TIMEOUT_MS);
      expect(demo.lines(), demo.output()).toContain('ftpmasq-demo-stopped');
      for (const port of summary.ports) expect(await isListening(port), `port ${port}`).toBe(false);
    },
    SUMMARY_TIMEOUT_MS + 60_000,
  );
});
