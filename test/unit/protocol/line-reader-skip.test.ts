/**
 * LineReader with `overlong: 'skip'`, the client side's framing (issue 11, item 5): a command
 * line over the cap is dropped up to its LF and reported in order, and the lines after it are
 * read as usual. Before, one overlong line ended the framing and with it the session.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineReader } from '../../../src/protocol/line-reader.js';

type Item = string | 'SKIPPED';

/** Every line (latin1) and a SKIPPED marker for each overlong one, in order, over all chunks. */
function readAll(cap: number, chunks: readonly Buffer[]): { items: Item[]; pending: number } {
  const reader = new LineReader(cap, { overlong: 'skip' });
  const items: Item[] = [];
  for (const chunk of chunks) {
    const result = reader.push(chunk);
    if (!result.ok) throw new Error('a skipping reader never fails');
    const skipped = result.skipped ?? [];
    let next = 0;
    result.lines.forEach((line, index) => {
      while (skipped[next] === index) {
        items.push('SKIPPED');
        next++;
      }
      items.push(line.toString('latin1'));
    });
    for (; next < skipped.length; next++) items.push('SKIPPED');
    expect(reader.pendingBytes).toBeLessThanOrEqual(cap);
  }
  return { items, pending: reader.pendingBytes };
}

/** The model: split at LF, a terminated line longer than the cap is SKIPPED. */
function model(cap: number, input: string): Item[] {
  const items: Item[] = [];
  let start = 0;
  for (let newline = input.indexOf('\n'); newline !== -1; newline = input.indexOf('\n', start)) {
    const line = input.slice(start, newline + 1);
    items.push(line.length > cap ? 'SKIPPED' : line);
    start = newline + 1;
  }
  return items;
}

function splitAt(input: Buffer, offsets: readonly number[]): Buffer[] {
  const cuts = [...new Set(offsets.map((offset) => offset % (input.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let previous = 0;
  for (const cut of cuts) {
    chunks.push(input.subarray(previous, cut));
    previous = cut;
  }
  chunks.push(input.subarray(previous));
  return chunks;
}

describe("LineReader with overlong: 'skip'", () => {
  const cases: { title: string; input: string; expected: Item[] }[] = [
    { title: 'a line at the cap (CRLF included) passes', input: 'NOOP12\r\n', expected: ['NOOP12\r\n'] },
    { title: 'a line one byte over the cap is skipped', input: 'NOOP123\r\n', expected: ['SKIPPED'] },
    { title: 'the lines around an overlong one keep their order', input: 'A\r\nBBBBBBBBBBBB\r\nC\r\n', expected: ['A\r\n', 'SKIPPED', 'C\r\n'] },
    { title: 'two overlong lines in a row are two skips', input: 'XXXXXXXXXXX\nYYYYYYYYYYY\nZ\n', expected: ['SKIPPED', 'SKIPPED', 'Z\n'] },
  ];

  it.each(cases)('$title, at every split offset', ({ input, expected }) => {
    const bytes = Buffer.from(input, 'latin1');
    for (let cut = 0; cut <= bytes.length; cut++) {
      expect(readAll(8, [bytes.subarray(0, cut), bytes.subarray(cut)]).items).toEqual(expected);
    }
    expect(readAll(8, [...bytes].map((byte) => Buffer.from([byte]))).items).toEqual(expected);
  });

  it('reports an endless line once, as it passes the cap, and keeps none of it', () => {
    const reader = new LineReader(16, { overlong: 'skip' });
    expect(reader.push(Buffer.from('NOOP\r\nAAAAAAAAAA'))).toEqual({ ok: true, lines: [Buffer.from('NOOP\r\n')] });
    expect(reader.push(Buffer.alloc(10, 0x41))).toEqual({ ok: true, lines: [], skipped: [0] });
    for (let i = 0; i < 1000; i++) {
      expect(reader.push(Buffer.alloc(4096, 0x41))).toEqual({ ok: true, lines: [] });
      expect(reader.pendingBytes).toBe(0);
    }
    expect(reader.push(Buffer.from('AAA\r\nNOOP\r\n'))).toEqual({ ok: true, lines: [Buffer.from('NOOP\r\n')] });
  });

  it('equals the model for generated lines and chunkings (2,000 inputs)', () => {
    const line = fc
      .tuple(fc.string({ unit: fc.constantFrom('A', ' ', '\r', '\xff', 'é'), maxLength: 24 }), fc.constantFrom('\n', '\r\n'))
      .map(([body, end]) => body + end);
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 20 }), fc.array(line, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 6 }), (cap, lines, offsets) => {
        const input = lines.join('');
        const chunks = splitAt(Buffer.from(input, 'latin1'), offsets);
        expect(readAll(cap, chunks).items).toEqual(model(cap, input));
      }),
      { numRuns: 2000 },
    );
  });
});
