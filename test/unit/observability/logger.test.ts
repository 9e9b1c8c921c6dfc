import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createLogger, formatPrettyLine } from '../../../src/observability/logger.js';

function capture(): { lines: string[]; write(text: string): void } {
  const lines: string[] = [];
  return { lines, write: (text: string) => void lines.push(text) };
}

function parse(line: string | undefined): Record<string, unknown> {
  const value: unknown = JSON.parse(line ?? '');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error(`not an object: ${line}`);
  return Object.fromEntries(Object.entries(value));
}

describe('createLogger (JSON)', () => {
  it('writes to stdout synchronously, as docs/LOGGING.md says (pino alone would queue each line to the thread pool)', () => {
    const logger = createLogger('info', undefined, { pretty: false });
    const stream: unknown = Reflect.get(logger, pino.symbols.streamSym);
    expect(stream).toMatchObject({ sync: true, fd: 1 });
  });

  it('writes one JSON object per line with level, ISO time, service and msg', () => {
    const out = capture();
    createLogger('info', out).info({ listen: ['203.0.113.10:21'] }, 'ftpmasq ready');
    expect(out.lines).toHaveLength(1);
    expect(out.lines[0]?.endsWith('\n')).toBe(true);
    expect(out.lines[0]?.slice(0, -1)).not.toContain('\n');
    const record = parse(out.lines[0]);
    expect(record).toMatchObject({ level: 'info', service: 'ftpmasq', msg: 'ftpmasq ready', listen: ['203.0.113.10:21'] });
    expect(String(record['time'])).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('names the level ("level":"warn"), never pino\'s number, at every level and in children', () => {
    const out = capture();
    const logger = createLogger('trace', out);
    logger.trace('t');
    logger.debug('d');
    logger.info('i');
    logger.child({ session: '2' }).warn('w');
    logger.error('e');
    logger.fatal('f');
    expect(out.lines.map((line) => parse(line)['level'])).toEqual(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
    expect(out.lines[3]).toMatch(/^\{"level":"warn","time":"/);
  });

  it('puts the session id on every line of a session child', () => {
    const out = capture();
    const session = createLogger('info', out).child({ session: '1a' });
    session.info('session start');
    session.warn({ peer: '203.0.113.3' }, 'data connection from a foreign address refused');
    session.error({ err: 'ECONNREFUSED' }, 'upstream unreachable');
    expect(out.lines.map((line) => parse(line)).map((record) => [record['session'], record['level']])).toEqual([
      ['1a', 'info'],
      ['1a', 'warn'],
      ['1a', 'error'],
    ]);
  });

  it.each([
    { level: 'warn', expected: ['warn', 'error'] },
    { level: 'error', expected: ['error'] },
    { level: 'debug', expected: ['debug', 'info', 'warn', 'error'] },
    { level: 'trace', expected: ['debug', 'info', 'warn', 'error'] },
    { level: 'silent', expected: [] },
  ] as const)('--log-level $level writes only $expected', ({ level, expected }) => {
    const out = capture();
    const logger = createLogger(level, out);
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    expect(out.lines.map((line) => parse(line)['level'])).toEqual(expected);
  });

  it('keeps JSON for an explicit destination unless pretty is asked for', () => {
    const out = capture();
    createLogger('info', out, { pretty: true }).child({ session: '7' }).info({ port: 60001 }, 'passive port timed out');
    expect(out.lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}\[session 7\] passive port timed out port=60001\n$/);
  });
});

describe('formatPrettyLine', () => {
  const cases = [
    {
      title: 'a session line with a quoted value',
      input: '{"level":"info","time":"2026-11-25T00:20:00.699Z","service":"ftpmasq","session":"4","from":"227 Entering Passive Mode (10,0,11,251,236,34).","upstreamPort":60450,"msg":"passive reply relayed"}',
      expected: '00:20:00.699 INFO  [session 4] passive reply relayed from="227 Entering Passive Mode (10,0,11,251,236,34)." upstreamPort=60450\n',
    },
    {
      title: 'a process line with an array',
      input: '{"level":"warn","time":"2026-11-25T00:20:00.000Z","service":"ftpmasq","limit":10,"msg":"session limit reached"}',
      expected: '00:20:00.000 WARN  session limit reached limit=10\n',
    },
    {
      title: "a line of a version that logged pino's numbers",
      input: '{"level":40,"time":"2026-11-25T00:20:00.000Z","msg":"m"}',
      expected: '00:20:00.000 WARN  m\n',
    },
    {
      title: 'no level at all',
      input: '{"time":"x","msg":"m"}',
      expected: 'x INFO  m\n',
    },
    {
      title: 'an unknown level number',
      input: '{"level":35,"time":"x","msg":"m"}',
      expected: 'x 35    m\n',
    },
    { title: 'not JSON', input: 'plain text\n', expected: 'plain text\n' },
    { title: 'a JSON array', input: '[1,2]', expected: '[1,2]' },
  ];
  it.each(cases)('$title', ({ input, expected }) => {
    expect(formatPrettyLine(input)).toBe(expected);
  });

  it('colours the level when asked', () => {
    expect(formatPrettyLine('{"level":"error","time":"t","msg":"m"}', { color: true })).toBe('t \u001b[31mERROR\u001b[39m m\n');
  });
});
