/**
 * Micro-benchmark of the control path, no root and no network: the pure functions a control
 * line goes through, in lines per second on one core.
 *
 *   npm run bench:control-path                 (about 20 s)
 *   npm run bench:control-path -- --quick      (about 3 s, a smoke test)
 *
 * Each case runs for a fixed time per sample; the figure is the median of the samples, with
 * min and max. Writes bench/results/control-path-latest.{md,json}.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { decidePasvRewrite } from '../src/protocol/address-policy.js';
import { parseCommand } from '../src/protocol/command.js';
import { format227, parse227 } from '../src/protocol/data-addresses.js';
import { LineReader } from '../src/protocol/line-reader.js';
import { ReplyTracker } from '../src/protocol/reply-tracker.js';
import { summarize } from './lib/stats.js';

const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bench', 'results');
const DOC_PATH = join(RESULTS_DIR, '..', '..', 'docs', 'PERFORMANCE.md');
const DOC_START = '<!-- control-path:start -->';
const DOC_END = '<!-- control-path:end -->';

/** Puts the table between the control-path markers of docs/PERFORMANCE.md. */
function updatePerformanceDoc(markdown: string): void {
  if (!existsSync(DOC_PATH)) return;
  const doc = readFileSync(DOC_PATH, 'utf8');
  const start = doc.indexOf(DOC_START);
  const end = doc.indexOf(DOC_END);
  if (start === -1 || end < start) return;
  writeFileSync(DOC_PATH, `${doc.slice(0, start + DOC_START.length)}\n${markdown}\n${doc.slice(end)}`);
}

interface Case {
  readonly name: string;
  readonly what: string;
  /** Runs one batch and returns how many lines it handled. */
  batch(): number;
}

/** Something the optimiser cannot prove unused. */
let sink = 0;

function repeatLines(line: string, count: number): Buffer {
  return Buffer.from(line.repeat(count), 'latin1');
}

const NOOP_REPLY = '200 NOOP command successful\r\n';
const PASV_REPLY = Buffer.from('227 Entering Passive Mode (10,0,11,251,235,233).\r\n', 'latin1');
const FEAT_REPLY = [
  '211-Features:\r\n',
  ' AUTH TLS\r\n',
  ' EPSV\r\n',
  ' EPRT\r\n',
  ' MDTM\r\n',
  ' MLST type*;size*;modify*;\r\n',
  ' SIZE\r\n',
  ' UTF8\r\n',
  '211 End\r\n',
].map((line) => Buffer.from(line, 'latin1'));

function cases(): Case[] {
  const lines1000 = repeatLines(NOOP_REPLY, 1000);
  // One line per chunk: what an interactive session delivers (one reply per socket read).
  const single = Buffer.from(NOOP_REPLY, 'latin1');
  // Every line split in two chunks: the partial tail is kept and joined.
  const halves: Buffer[] = [];
  for (let i = 0; i < 100; i++) {
    halves.push(single.subarray(0, 10), single.subarray(10));
  }
  const clientLines = ['USER scott\r\n', 'PASS tiger\r\n', 'TYPE I\r\n', 'PASV\r\n', 'RETR 進捗どうですか.jpg\r\n', 'NOOP\r\n', 'QUIT\r\n'].map(
    (line) => Buffer.from(line, 'utf8'),
  );
  return [
    {
      name: 'LineReader, 1,000 lines per chunk',
      what: 'bulk framing: replies arriving together',
      batch() {
        const reader = new LineReader();
        const result = reader.push(lines1000);
        sink += result.lines.length;
        return result.lines.length;
      },
    },
    {
      name: 'LineReader, one line per chunk',
      what: 'interactive: one reply per socket read',
      batch() {
        const reader = new LineReader();
        let n = 0;
        for (let i = 0; i < 1000; i++) n += reader.push(single).lines.length;
        sink += n;
        return n;
      },
    },
    {
      name: 'LineReader, every line split in two chunks',
      what: 'partial tail kept and joined',
      batch() {
        const reader = new LineReader();
        let n = 0;
        for (const chunk of halves) n += reader.push(chunk).lines.length;
        sink += n;
        return n;
      },
    },
    {
      name: 'ReplyTracker, single-line replies',
      what: 'reply code and end of reply',
      batch() {
        const tracker = new ReplyTracker();
        for (let i = 0; i < 1000; i++) sink += tracker.classify(single).code ?? 0;
        return 1000;
      },
    },
    {
      name: 'ReplyTracker, 9-line FEAT reply',
      what: 'multi-line reply (RFC 959 4.2)',
      batch() {
        const tracker = new ReplyTracker();
        let n = 0;
        for (let i = 0; i < 100; i++) {
          for (const line of FEAT_REPLY) {
            sink += tracker.classify(line).last ? 1 : 0;
            n++;
          }
        }
        return n;
      },
    },
    {
      name: 'parseCommand, client lines',
      what: 'verb and argument of each client line',
      batch() {
        let n = 0;
        for (let i = 0; i < 100; i++) {
          for (const line of clientLines) {
            const parsed = parseCommand(line);
            sink += parsed.ok ? parsed.value.verb.length : 0;
            n++;
          }
        }
        return n;
      },
    },
    {
      name: 'parse227 + decidePasvRewrite + format227',
      what: 'the rewrite of one 227 reply',
      batch() {
        for (let i = 0; i < 1000; i++) {
          const parsed = parse227(PASV_REPLY);
          if (!parsed.ok) throw new Error(parsed.reason);
          const decision = decidePasvRewrite(parsed.value.host, '203.0.113.10');
          const answer = format227('203.0.113.10', parsed.value.port, '\r\n');
          sink += answer.length + (decision.rewrite ? 1 : 0);
        }
        return 1000;
      },
    },
    {
      name: 'upstream line: LineReader + ReplyTracker',
      what: 'what a session does per upstream reply line',
      batch() {
        const reader = new LineReader();
        const tracker = new ReplyTracker();
        let n = 0;
        for (let i = 0; i < 1000; i++) {
          for (const line of reader.push(single).lines) {
            sink += tracker.classify(line).code ?? 0;
            n++;
          }
        }
        return n;
      },
    },
  ];
}

function measure(testCase: Case, sampleMs: number, samples: number): { rates: number[] } {
  // Warm up: let the JIT settle before timing.
  const warmEnd = performance.now() + Math.min(200, sampleMs);
  while (performance.now() < warmEnd) testCase.batch();
  const rates: number[] = [];
  for (let s = 0; s < samples; s++) {
    let lines = 0;
    const t0 = performance.now();
    const end = t0 + sampleMs;
    let now = t0;
    // Bounded by time; batches are ~1,000 lines, far below a sample.
    while (now < end) {
      lines += testCase.batch();
      now = performance.now();
    }
    rates.push(lines / ((now - t0) / 1000));
  }
  return { rates };
}

function formatRate(rate: number): string {
  if (rate >= 1e6) return `${(rate / 1e6).toFixed(2)} M`;
  if (rate >= 1e3) return `${(rate / 1e3).toFixed(0)} k`;
  return rate.toFixed(0);
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const sampleMs = quick ? 100 : 500;
  const samples = quick ? 3 : 5;
  const rows: Array<{ name: string; what: string; median: number; min: number; max: number }> = [];
  for (const testCase of cases()) {
    const { rates } = measure(testCase, sampleMs, samples);
    const summary = summarize(rates);
    if (summary === undefined) continue;
    rows.push({ name: testCase.name, what: testCase.what, median: summary.median, min: summary.min, max: summary.max });
    process.stderr.write(`${testCase.name}: ${formatRate(summary.median)} lines/s\n`);
  }
  const header = `Control path, one core (${cpus()[0]?.model ?? 'unknown'}, Node ${process.version}), ${samples} samples of ${sampleMs} ms each: median (min–max) lines per second.`;
  const table = [
    '| Case | What it stands for | Lines/s |',
    '| --- | --- | ---: |',
    ...rows.map((row) => `| ${row.name} | ${row.what} | ${formatRate(row.median)} (${formatRate(row.min)}–${formatRate(row.max)}) |`),
  ].join('\n');
  const markdown = `${header}\n\n${table}\n`;
  process.stdout.write(markdown);
  if (!quick) {
    mkdirSync(RESULTS_DIR, { recursive: true });
    writeFileSync(join(RESULTS_DIR, 'control-path-latest.md'), markdown);
    writeFileSync(
      join(RESULTS_DIR, 'control-path-latest.json'),
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, sampleMs, samples, rows }, null, 2)}\n`,
    );
    updatePerformanceDoc(markdown);
  }
  if (sink === -1) process.stdout.write('\n');
}

main();
