import { describe, expect, it } from 'vitest';
import { isUrgentAbortTail } from '../../../src/protocol/urgent-abort.js';

/**
 * What a Node reader receives of an ABOR sent as urgent data (SO_OOBINLINE off, the kernel's
 * default): the byte at the urgent mark is missing. Issue 11, item 3: ftplib's abort() reached
 * ftpmasq as `ABOR\r` and waited for an LF that never came.
 */
describe('isUrgentAbortTail', () => {
  const cases: { title: string; tail: Buffer; expected: boolean }[] = [
    { title: "ftplib's ABOR\\r\\n sent urgent: ABOR\\r", tail: Buffer.from('ABOR\r'), expected: true },
    { title: 'lower case', tail: Buffer.from('abor\r'), expected: true },
    { title: 'behind IAC IP IAC DM', tail: Buffer.from([0xff, 0xf4, 0xff, 0xf2, ...Buffer.from('ABOR\r')]), expected: true },
    { title: 'behind IAC IP and a lone DM', tail: Buffer.from([0xff, 0xf4, 0xf2, ...Buffer.from('ABOR\r')]), expected: true },
    { title: 'ABOR without its CR (a line still arriving)', tail: Buffer.from('ABOR'), expected: false },
    { title: 'a part of ABOR', tail: Buffer.from('ABO'), expected: false },
    { title: 'ABOR with an argument', tail: Buffer.from('ABOR x\r'), expected: false },
    { title: 'another verb', tail: Buffer.from('NOOP\r'), expected: false },
    { title: 'nothing', tail: Buffer.alloc(0), expected: false },
    { title: 'Telnet bytes only', tail: Buffer.from([0xff, 0xf4, 0xf2]), expected: false },
  ];

  it.each(cases)('$title', ({ tail, expected }) => {
    expect(isUrgentAbortTail(tail)).toBe(expected);
  });
});
