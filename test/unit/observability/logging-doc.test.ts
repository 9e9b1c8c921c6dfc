/**
 * docs/LOGGING.md lists every log message the daemon writes, at its level: a new or renamed log line
 * without its row fails here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const DAEMON_FILES = readdirSync(new URL('../../../src/daemon/', import.meta.url)).filter((name) => name.endsWith('.ts'));
/** Every file of the folders that log for a session (its handlers, the data path), and the process's own. */
const SESSION_FOLDERS = ['src/session', 'src/data', 'src/net', 'src/site'];
const SOURCES = [
  ...SESSION_FOLDERS.flatMap((folder) =>
    readdirSync(new URL(`../../../${folder}`, import.meta.url), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts'))
      .map((file) => `${folder}/${file}`),
  ),
  'src/daemon.ts',
  'src/cli.ts',
  ...DAEMON_FILES.map((name) => `src/daemon/${name}`),
];
const doc = readFileSync(new URL('../../../docs/LOGGING.md', import.meta.url), 'utf8');
const events = doc.slice(doc.indexOf('## Events'), doc.indexOf('## The diagnosis line'));

/** `log.warn({...}, 'message');` and `logger.info('message');` calls: their level and message literal. */
function logCalls(source: string): { level: string; message: string }[] {
  const calls: { level: string; message: string }[] = [];
  for (const match of source.matchAll(/\b(?:log|logger)\.(info|warn|error|debug)\(([\s\S]*?)\);?\n/g)) {
    const [, level = '', args = ''] = match;
    const message = /'([^'\\]*)'\s*,?\s*\)?\s*$/.exec(args)?.[1];
    if (message !== undefined) calls.push({ level, message });
  }
  return calls;
}

describe('docs/LOGGING.md', () => {
  const calls = SOURCES.flatMap((path) => logCalls(readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8')));

  it('finds the log calls it checks', () => {
    expect(calls.length).toBeGreaterThan(25);
    expect(DAEMON_FILES).toContain('daemon.ts');
  });

  it.each(calls.filter((call) => !call.message.startsWith('Fix at the source')))(
    'has a row for "$message" at $level',
    ({ level, message }) => {
      const row = events.split('\n').find((line) => line.startsWith('|') && line.includes(`\`${message}\``));
      expect(row, `no row naming \`${message}\``).toBeDefined();
      expect(row?.split(' | ')[1]).toBe(level);
    },
  );

  it('shows the diagnosis with what fixes it at the source', () => {
    const diagnosis = calls.find((call) => call.message.startsWith('Fix at the source'));
    expect(diagnosis?.level).toBe('warn');
    expect(doc).toContain(diagnosis?.message);
  });
});
