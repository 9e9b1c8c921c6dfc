import { describe, expect, it } from 'vitest';
import { isSentinelLine, type NftReply, NftReplyFramer, toReply } from '../../../src/kernel/nft-reply-framer.js';

/** What nft 1.0.6 prints for `describe meta mark`, the sentinel after each request. */
const SENTINEL = 'meta expression, datatype mark (packet mark) (basetype integer), 32 bits\n';
const LISTING = '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"counter": {"family": "ip", "name": "f1_up", "table": "ftpmasq", "packets": 3, "bytes": 180}}]}\n';
const ERROR = 'internal:0:0-0: Error: Could not process rule: No such file or directory\n\n';

const OK_EMPTY: NftReply = { text: '', errors: [] };

describe('NftReplyFramer: replies cut at the sentinel (kernel mode without a fork per transfer)', () => {
  const cases: ReadonlyArray<{ title: string; output: string; expected: readonly NftReply[] }> = [
    { title: 'a delete that succeeded prints nothing', output: SENTINEL, expected: [OK_EMPTY] },
    { title: 'a listing', output: LISTING + SENTINEL, expected: [{ text: LISTING, errors: [] }] },
    {
      title: 'an error, with the blank line nft prints after it',
      output: ERROR + SENTINEL,
      expected: [{ text: ERROR, errors: ['internal:0:0-0: Error: Could not process rule: No such file or directory'] }],
    },
    {
      title: 'three replies in one chunk stay three, in order',
      output: SENTINEL + LISTING + SENTINEL + ERROR + SENTINEL,
      expected: [OK_EMPTY, { text: LISTING, errors: [] }, { text: ERROR, errors: ['internal:0:0-0: Error: Could not process rule: No such file or directory'] }],
    },
    { title: 'output without its sentinel yet is no reply', output: LISTING, expected: [] },
    {
      title: 'a syntax error (nft echoes the line and a caret under it)',
      output: 'Error: syntax error, unexpected newline\ngarbage\n       ^\n' + SENTINEL,
      expected: [{ text: 'Error: syntax error, unexpected newline\ngarbage\n       ^\n', errors: ['Error: syntax error, unexpected newline'] }],
    },
  ];

  for (const { title, output, expected } of cases) {
    it(`${title}: the same replies at every split of the output into two reads`, () => {
      const bytes = Buffer.from(output, 'utf8');
      for (let split = 0; split <= bytes.length; split++) {
        const framer = new NftReplyFramer(1024);
        const first = framer.push(bytes.subarray(0, split));
        const second = framer.push(bytes.subarray(split));
        expect([...first.replies, ...second.replies], `split at ${split}`).toEqual(expected);
        expect(second.overflow).toBe(false);
      }
    });
  }

  it('one byte at a time, a multi-byte character split too', () => {
    const framer = new NftReplyFramer(1024);
    const replies: NftReply[] = [];
    for (const byte of Buffer.from(`Error: no table « ftpmasq »\n${SENTINEL}`, 'utf8')) replies.push(...framer.push(Buffer.from([byte])).replies);
    expect(replies).toEqual([{ text: 'Error: no table « ftpmasq »\n', errors: ['Error: no table « ftpmasq »'] }]);
  });

  it('a reply past the bound is an overflow, and the framer stays spent', () => {
    const framer = new NftReplyFramer(100);
    expect(framer.push(Buffer.from('x'.repeat(60) + '\n')).overflow).toBe(false);
    expect(framer.push(Buffer.from('y'.repeat(50))).overflow).toBe(true);
    expect(framer.push(Buffer.from(SENTINEL))).toEqual({ replies: [], overflow: true });
  });

  it('the pending output names what nft printed before it died or hung', () => {
    const framer = new NftReplyFramer(1024);
    framer.push(Buffer.from('Error: one\n\nError: two\npart'));
    expect(framer.pending()).toBe('Error: one | Error: two | part');
  });

  it('only the sentinel line is a sentinel', () => {
    expect(isSentinelLine(SENTINEL.trimEnd())).toBe(true);
    expect(isSentinelLine(LISTING.trimEnd())).toBe(false);
    expect(isSentinelLine(' meta expression, datatype mark')).toBe(false);
    expect(toReply([])).toEqual(OK_EMPTY);
  });
});
