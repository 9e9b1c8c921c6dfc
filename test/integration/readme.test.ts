/**
 * Issue 6: the README's first screen does what it says. Its first code block names the demo command,
 * package.json provides it, it runs, and the sample output the README shows is what the demo prints.
 * The same command from a fresh clone (with `npm ci`) is test/e2e/readme.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SUMMARY_PREFIX } from '../../src/demo/demo-report.js';
import { type DemoProcess, isListening, startDemoProcess } from '../helpers/demo-process.js';
import { demoCommandOf, demoScriptProblem, firstCodeBlock, normalizeDemoOutput, readmeSampleOutput } from './support/readme.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const SUMMARY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 10_000;

let demo: DemoProcess | undefined;
let scratch: string | undefined;

/** package.json, the tsconfigs and src/ copied to a temporary directory, with this tree's node_modules linked in. */
async function scratchCheckout(): Promise<string> {
  scratch = await mkdtemp(join(tmpdir(), 'fmq-readme-'));
  for (const file of ['package.json', 'tsconfig.json', 'tsconfig.build.json']) await cp(join(root, file), join(scratch, file));
  await cp(join(root, 'src'), join(scratch, 'src'), { recursive: true });
  await symlink(join(root, 'node_modules'), join(scratch, 'node_modules'), 'dir');
  return scratch;
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
});

afterEach(async () => {
  await demo?.kill();
  demo = undefined;
  if (scratch !== undefined) await rm(scratch, { recursive: true, force: true });
  scratch = undefined;
});

describe('README: the demo command', () => {
  it('the first code block runs the demo with `npm ci && npm run demo`', () => {
    expect(demoCommandOf(firstCodeBlock(readme))).toBe('npm ci && npm run demo');
  });

  it('package.json provides `npm run demo`, and it builds first (a fresh clone has no dist/)', () => {
    const scripts: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).scripts;
    expect(demoScriptProblem(scripts)).toBeUndefined();
  });

  it('the sample output in the README is what the demo prints (ports aside)', async () => {
    demo = startDemoProcess(process.execPath, [cli, 'demo']);
    await demo.waitForLine((line) => line.startsWith('  npx ftpmasq probe '), SUMMARY_TIMEOUT_MS);
    const sample = normalizeDemoOutput(readmeSampleOutput(readme));
    const printed = normalizeDemoOutput(demo.lines()).slice(0, sample.length);
    expect(printed).toEqual(sample);
  });

  it("`npm run demo` (the README's command after `npm ci`) runs the demo; Ctrl-C stops it and its listeners", async () => {
    // A scratch checkout sharing node_modules: the script builds dist/, and rebuilding this tree's
    // dist/ would race the other test files that run dist/cli.js at the same time.
    const checkout = await scratchCheckout();
    demo = startDemoProcess('npm', ['run', 'demo'], { cwd: checkout });
    const summary = await demo.waitForSummary(SUMMARY_TIMEOUT_MS);
    expect(summary.status, demo.output()).toBe('ok');
    await demo.waitForLine((line) => line.includes('press Ctrl-C'), 5000);
    demo.interrupt();
    const exit = await demo.waitForExit(EXIT_TIMEOUT_MS);
    expect(demo.lines(), demo.output()).toContain('ftpmasq-demo-stopped');
    // npm itself ends the way npm does on Ctrl-C (killed by SIGINT, or 130); the demo under it stopped cleanly.
    expect([exit.signal, exit.code]).toSatisfy(
      ([signal, code]: [NodeJS.Signals | null, number | null]) => signal === 'SIGINT' || code === 0 || code === 130,
    );
    for (const port of summary.ports) expect(await isListening(port), `port ${port}`).toBe(false);
  });
});

describe('README helpers', () => {
  it('normalizeDemoOutput masks ports and the JSON line only', () => {
    expect(
      normalizeDemoOutput([
        '  ftpmasq            127.0.0.1:45039   relay mode, upstream 127.0.0.1:36277',
        "  ftpmasq's 227      227 Entering Passive Mode (127,0,0,1,234,96).",
        '  server\'s 227       227 Entering Passive Mode (10,0,11,251,140,213).',
        `${DEMO_SUMMARY_PREFIX}{"status":"ok","ports":[1,2,3]}`,
        '  curl -s http://127.0.0.1:41487/metrics | grep ftpmasq_rewrites_total',
      ]),
    ).toEqual([
      '  ftpmasq            127.0.0.1:PORT   relay mode, upstream 127.0.0.1:PORT',
      "  ftpmasq's 227      227 Entering Passive Mode (127,0,0,1,P1,P2).",
      "  server's 227       227 Entering Passive Mode (10,0,11,251,P1,P2).",
      `${DEMO_SUMMARY_PREFIX}…`,
      '  curl -s http://127.0.0.1:PORT/metrics | grep ftpmasq_rewrites_total',
    ]);
  });

  const scriptCases: { title: string; scripts: unknown; expected: RegExp | undefined }[] = [
    { title: 'no scripts', scripts: undefined, expected: /no "scripts"/ },
    { title: 'no demo script', scripts: { build: 'tsc' }, expected: /no "demo" script/ },
    { title: 'a demo that does not run the CLI', scripts: { demo: 'echo hi' }, expected: /does not run dist\/cli\.js demo/ },
    { title: 'a demo that does not build', scripts: { demo: 'node dist/cli.js demo' }, expected: /builds dist\// },
    { title: 'predemo builds', scripts: { predemo: 'npm run --silent build', demo: 'node dist/cli.js demo' }, expected: undefined },
    { title: 'demo builds first', scripts: { demo: 'npm run build && node dist/cli.js demo' }, expected: undefined },
  ];
  for (const { title, scripts, expected } of scriptCases) {
    it(`demoScriptProblem: ${title}`, () => {
      const problem = demoScriptProblem(scripts);
      if (expected === undefined) expect(problem).toBeUndefined();
      else expect(problem).toMatch(expected);
    });
  }
});
