/** Reading the README's first screen, for the README tests (integration and e2e). */
import { DEMO_SUMMARY_PREFIX } from '../../../src/demo/demo-report.js';

/** The body of the README's first fenced code block. */
export function firstCodeBlock(readme: string): string {
  const match = /^```[a-z]*\n([\s\S]*?)^```$/m.exec(readme);
  if (match?.[1] === undefined) throw new Error('README.md has no fenced code block');
  return match[1];
}

/** The command on the code block's line that runs the demo, without its `# comment`. */
export function demoCommandOf(block: string): string {
  const line = block.split('\n').find((candidate) => /\bnpm run demo\b/.test(candidate));
  if (line === undefined) throw new Error(`no line with "npm run demo" in:\n${block}`);
  return line.replace(/\s+#.*$/, '').trim();
}

/** The sample output between the quickstart markers: the ```text block, as lines. */
export function readmeSampleOutput(readme: string): string[] {
  const start = readme.indexOf('<!-- quickstart:start -->');
  const end = readme.indexOf('<!-- quickstart:end -->');
  if (start === -1 || end === -1) throw new Error('README.md lacks the quickstart markers');
  const match = /^```text\n([\s\S]*?)^```$/m.exec(readme.slice(start, end));
  if (match?.[1] === undefined) throw new Error('the quickstart section has no ```text block');
  return match[1].replace(/\n$/, '').split('\n');
}

/** Masks what differs between runs: ports, the port bytes of a 227, the JSON line's content. */
export function normalizeDemoOutput(lines: readonly string[]): string[] {
  return lines.map((line) => {
    if (line.startsWith(DEMO_SUMMARY_PREFIX)) return `${DEMO_SUMMARY_PREFIX}…`;
    return line
      .replace(/127\.0\.0\.1:\d+/g, '127.0.0.1:PORT')
      .replace(/\((127,0,0,1|10,0,11,251),\d+,\d+\)/g, '($1,P1,P2)');
  });
}

/** Why package.json's scripts do not provide the README's `npm run demo`, or undefined when they do. */
export function demoScriptProblem(scripts: unknown): string | undefined {
  if (typeof scripts !== 'object' || scripts === null) return 'package.json has no "scripts"';
  const entries = new Map(Object.entries(scripts));
  const demo = entries.get('demo');
  if (typeof demo !== 'string') return 'package.json has no "demo" script';
  if (!/\bdist\/cli\.js demo\b/.test(demo)) return `the "demo" script (${demo}) does not run dist/cli.js demo`;
  const predemo = entries.get('predemo');
  const builds = (script: unknown): boolean => typeof script === 'string' && /\bnpm run (--silent )?build\b|\btsc\b/.test(script);
  if (!builds(demo) && !builds(predemo)) {
    return 'neither "demo" nor "predemo" builds dist/, which a fresh clone does not have';
  }
  return undefined;
}
