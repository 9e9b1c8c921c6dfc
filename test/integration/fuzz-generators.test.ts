/**
 * The fuzzer's own guarantees (pure, no sockets): a seed gives the same inputs every time, and no
 * generated PORT or EPRT argument names an address off loopback, so a proxy that let one through
 * could only make the server dial loopback (the network rule of the test suite).
 */
import { describe, expect, it } from 'vitest';
import { generateLine, generatePlan } from '../../bench/fuzz/hostile-client.js';
import { Prng } from '../../bench/fuzz/prng.js';
import { parseEprtArgument, parsePortArgument } from '../../src/protocol/data-addresses.js';
import { decodeTelnet } from '../../src/protocol/telnet.js';

/**
 * Every address a server could read as the argument of a PORT or EPRT in `bytes`, before and after
 * its Telnet layer: after each PORT/EPRT (any case) and the separator bytes a server may take
 * (space, TAB, VT, FF, CR, NUL), up to the next CR, LF or NUL, parsed the way ftpmasq and
 * LegacyFtpServer parse them.
 */
function dataAddressesIn(bytes: Buffer): string[] {
  const found: string[] = [];
  const decoded = decodeTelnet(bytes);
  const texts = [bytes.toString('latin1'), ...(decoded.ok ? [decoded.bytes.toString('latin1')] : [])];
  for (const text of texts) {
    for (const match of text.matchAll(/(?:PORT|EPRT)[ \t\v\f\r\0]*/gi)) {
      const argument = text.slice(match.index + match[0].length, match.index + match[0].length + 200).split(/[\r\n\0]/)[0] ?? '';
      const port = parsePortArgument(argument);
      if (port.ok) found.push(port.value.host);
      const eprt = parseEprtArgument(argument);
      if (eprt.ok) found.push(eprt.value.host);
    }
  }
  return found;
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1';
}

describe('fuzz generators', () => {
  it('the same seed gives the same plan, and another seed another one', () => {
    const plan = (seed: number): string => JSON.stringify(generatePlan(new Prng(seed)), (_, value: unknown) => value);
    expect(plan(42)).toBe(plan(42));
    expect(plan(42)).not.toBe(plan(43));
  });

  it('forks depend only on the parent seed', () => {
    const a = new Prng(7);
    const b = new Prng(7);
    expect([a.fork().seed, a.fork().seed]).toEqual([b.fork().seed, b.fork().seed]);
  });

  it('names no address off loopback in 2,000 plans and 20,000 lines, whatever splits them', () => {
    const offLoopback: string[] = [];
    let addressesSeen = 0;
    const check = (bytes: Buffer): void => {
      for (const address of dataAddressesIn(bytes)) {
        addressesSeen++;
        if (!isLoopback(address)) offLoopback.push(address);
      }
    };
    for (let seed = 1; seed <= 2000; seed++) {
      const plan = generatePlan(new Prng(seed));
      // Whole bursts: a split write joins again on the wire.
      check(Buffer.concat(plan.steps.flatMap((step) => (step.kind === 'write' ? [step.bytes] : []))));
    }
    const prng = new Prng(99);
    for (let i = 0; i < 20_000; i++) check(generateLine(prng));
    expect(offLoopback).toEqual([]);
    // The check looked at something: loopback PORT and EPRT arguments are generated.
    expect(addressesSeen).toBeGreaterThan(200);
  });

  it('generates every hostile form the fuzzer promises', () => {
    const prng = new Prng(1);
    const lines = Array.from({ length: 5000 }, () => generateLine(prng).toString('latin1'));
    const has = (predicate: (line: string) => boolean): boolean => lines.some(predicate);
    expect(has((line) => line.includes('\xff\xf4'))).toBe(true); // Telnet IP
    expect(has((line) => /\xff[\xfb-\xfe]/.test(line))).toBe(true); // option negotiation
    expect(has((line) => line.includes('\0'))).toBe(true);
    expect(has((line) => /\r[^\n]/.test(line))).toBe(true); // a bare CR inside
    expect(has((line) => /[^\r]\n/.test(line))).toBe(true); // bare LF framing
    expect(has((line) => line.length > 8192)).toBe(true);
    expect(has((line) => /^PORT\t/.test(line))).toBe(true);
    for (const verb of ['PORT', 'EPRT', 'PASV', 'EPSV', 'AUTH', 'ABOR', 'REST', 'RETR', 'STOR']) expect(has((line) => line.includes(verb)), verb).toBe(true);
  });
});
