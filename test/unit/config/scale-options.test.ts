/** The scale-out keys as flags: the slice narrows the passive range, sharing and the offset land on the site. */
import { describe, expect, it } from 'vitest';
import { effectiveDocument } from '../../../src/config/effective-config.js';
import { configFromDocument } from '../../../src/config/load-config.js';
import { buildConfig } from '../../../src/config/schema.js';
import { toScaleFields } from '../../../src/config/site-fields-scale.js';
import type { IssueSink } from '../../../src/config/site-tls-options.js';
import { configErrorOf } from './config-error-of.js';

const UPSTREAM = 'ftp.internal:21';

function site(raw: Parameters<typeof buildConfig>[0]) {
  const [first] = buildConfig({ upstream: UPSTREAM, ...raw }).sites;
  if (first === undefined) throw new Error('no site');
  return first;
}

describe('scale-out options', () => {
  it('defaults: no slice, no sharing, no offset', () => {
    expect(site({})).toMatchObject({ passivePorts: { low: 60000, high: 60999 }, passivePortSlice: undefined, passivePortSharing: false, advertisedPassivePortOffset: 0 });
  });

  it('--passive-port-slice 1/3 makes the site use the middle slice of its range', () => {
    expect(site({ passivePorts: '60000-60009', passivePortSlice: '1/3' })).toMatchObject({
      passivePorts: { low: 60004, high: 60006 },
      passivePortSlice: { index: 1, count: 3, range: { low: 60000, high: 60009 } },
    });
  });

  it('check-config prints the configured range and the resolved slice, which load back to the same site', () => {
    const config = buildConfig({ upstream: UPSTREAM, passivePorts: '60000-60009', passivePortSlice: '2/3', passivePortSharing: 'true' });
    const document = effectiveDocument(config);
    expect(document['sites']).toEqual([expect.objectContaining({ passivePorts: '60000-60009', passivePortSlice: '2/3', passivePortSharing: true })]);
    expect(configFromDocument(document, { source: 'printed' })).toEqual(config);
  });

  it('sharing and the offset are read as given', () => {
    expect(site({ passivePortSharing: 'true', advertisedPassivePortOffset: '-29000' })).toMatchObject({
      passivePortSharing: true,
      advertisedPassivePortOffset: -29000,
    });
  });

  it.each([
    { raw: { passivePorts: '60000-60001', passivePortSlice: '0/3' }, message: '--passive-port-slice: the passive range 60000-60001 has 2 ports, too few for 3 slices' },
    { raw: { passivePortSlice: '3/3' }, message: '--passive-port-slice: expected INDEX/COUNT' },
    { raw: { passivePortSlice: 'two' }, message: '--passive-port-slice: expected INDEX/COUNT' },
    { raw: { advertisedPassivePortOffset: '6000' }, message: '--advertised-passive-port-offset: the passive range 60000-60999 shifted by 6000 is 66000-66999, outside 1024-65535' },
    { raw: { advertisedPassivePortOffset: 'x' }, message: '--advertised-passive-port-offset: expected a whole number from -64511 to 64511, got "x"' },
  ])('refuses $raw with a message naming the flag', ({ raw, message }) => {
    expect(configErrorOf(() => site(raw)).message).toContain(message);
  });

  it('auto/COUNT takes the slice from the host name ordinal, and a host name without one is an error', () => {
    const issues: string[] = [];
    const sink: IssueSink = { addIssue: (issue) => void issues.push(typeof issue === 'string' ? issue : (issue.message ?? '')) };
    const values = { passivePorts: { low: 30000, high: 30299 }, passivePortSlice: { index: 'auto' as const, count: 3 }, passivePortSharing: true, advertisedPassivePortOffset: 0 };
    expect(toScaleFields(values, sink, 'ftpmasq-2')).toMatchObject({ passivePorts: { low: 30200, high: 30299 }, passivePortSlice: { index: 2, count: 3, range: { low: 30000, high: 30299 } } });
    expect(issues).toEqual([]);
    toScaleFields(values, sink, 'gateway');
    expect(issues).toEqual([expect.stringContaining('does not end in -<ordinal>')]);
  });
});
