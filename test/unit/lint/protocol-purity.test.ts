/**
 * The lint rule that keeps src/protocol/ pure must fire: a protocol file that imports a socket,
 * sets a timer, logs or counts is an error, and the same code elsewhere is not.
 */
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

async function ruleIdsFor(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).map((message) => message.ruleId ?? message.message);
}

const IMPURE_SNIPPETS: ReadonlyArray<{ title: string; code: string; rule: string }> = [
  { title: 'node:net', code: "import net from 'node:net';\nexport const x = net;\n", rule: '@typescript-eslint/no-restricted-imports' },
  { title: 'node:timers', code: "import { setTimeout as t } from 'node:timers';\nexport const x = t;\n", rule: '@typescript-eslint/no-restricted-imports' },
  { title: 'pino', code: "import pino from 'pino';\nexport const x = pino;\n", rule: '@typescript-eslint/no-restricted-imports' },
  { title: 'prom-client', code: "import { Counter } from 'prom-client';\nexport const x = Counter;\n", rule: '@typescript-eslint/no-restricted-imports' },
  { title: 'the logger', code: "import { createLogger } from '../observability/logger.js';\nexport const x = createLogger;\n", rule: '@typescript-eslint/no-restricted-imports' },
  { title: 'the metrics', code: "import { Metrics } from '../observability/metrics.js';\nexport const x = Metrics;\n", rule: '@typescript-eslint/no-restricted-imports' },
  { title: 'a global timer', code: 'export const x = setTimeout(() => undefined, 1);\n', rule: 'no-restricted-globals' },
  { title: 'console', code: "export const x = (): void => console.log('x');\n", rule: 'no-restricted-globals' },
];

describe('lint: src/protocol/ stays pure', () => {
  it.each(IMPURE_SNIPPETS)('$title in src/protocol/ is an error', async ({ code, rule }) => {
    expect(await ruleIdsFor(code, 'src/protocol/lint-probe.ts')).toContain(rule);
  });

  it.each(IMPURE_SNIPPETS)('$title in src/session/ is allowed', async ({ code, rule }) => {
    expect(await ruleIdsFor(code, 'src/session/lint-probe.ts')).not.toContain(rule);
  });

  it('a type-only import of the metrics is allowed (a name carries no behaviour)', async () => {
    const code = "import type { RefusalReason } from '../observability/metrics.js';\nexport const x: RefusalReason = 'auth_tls';\n";
    expect(await ruleIdsFor(code, 'src/protocol/lint-probe.ts')).toEqual([]);
  });

  it('the site policy is held to the same rule', async () => {
    expect(await ruleIdsFor("import net from 'node:net';\nexport const x = net;\n", 'src/site/site-policy.ts')).toContain(
      '@typescript-eslint/no-restricted-imports',
    );
  });

  it('`any` is an error everywhere', async () => {
    expect(await ruleIdsFor('export const x: any = 1;\n', 'src/session/lint-probe.ts')).toContain(
      '@typescript-eslint/no-explicit-any',
    );
  });
});
