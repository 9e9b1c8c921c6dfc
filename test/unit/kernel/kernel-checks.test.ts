import { describe, expect, it } from 'vitest';
import { CAP_NET_ADMIN_BIT, checkKernelPrerequisites, hasEffectiveCapability, isForwardingOn } from '../../../src/kernel/kernel-checks.js';
import { NftRunner } from '../../../src/kernel/nft-command.js';

const status = (capEff: string): string => `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${capEff}\nCapBnd:\t000001ffffffffff\n`;

describe('hasEffectiveCapability (CAP_NET_ADMIN is bit 12)', () => {
  it.each([
    { title: 'root', text: status('000001ffffffffff'), expected: true },
    { title: 'only CAP_NET_ADMIN', text: status('0000000000001000'), expected: true },
    { title: 'CAP_NET_BIND_SERVICE only', text: status('0000000000000400'), expected: false },
    { title: 'nothing', text: status('0000000000000000'), expected: false },
    { title: 'no CapEff line', text: 'Name:\tnode\n', expected: undefined },
    { title: 'not hex', text: status('zz'), expected: undefined },
  ])('$title', ({ text, expected }) => {
    expect(hasEffectiveCapability(text, CAP_NET_ADMIN_BIT)).toBe(expected);
  });
});

describe('isForwardingOn', () => {
  it.each([
    { text: '1\n', expected: true },
    { text: '0\n', expected: false },
    { text: '', expected: false },
  ])('$text', ({ text, expected }) => expect(isForwardingOn(text)).toBe(expected));
});

describe('checkKernelPrerequisites: one clear error each', () => {
  const root = { procStatus: () => Promise.resolve(status('000001ffffffffff')), ipForward: () => Promise.resolve('1\n') };

  it('nft missing: names the nftables package', async () => {
    await expect(checkKernelPrerequisites(new NftRunner({ executable: '/nonexistent/nft' }), root)).rejects.toThrow(
      /--mode kernel: cannot run nft: \/nonexistent\/nft not found \(install the nftables package\)/,
    );
  });

  it('no CAP_NET_ADMIN: says so and how to grant it', async () => {
    const sources = { ...root, procStatus: () => Promise.resolve(status('0000000000000400')) };
    await expect(checkKernelPrerequisites(new NftRunner({ executable: 'true' }), sources)).rejects.toThrow(/lacks CAP_NET_ADMIN.*AmbientCapabilities/);
  });

  it('forwarding off: names the sysctl and says ftpmasq leaves it alone', async () => {
    const sources = { ...root, ipForward: () => Promise.resolve('0\n') };
    await expect(checkKernelPrerequisites(new NftRunner({ executable: 'true' }), sources)).rejects.toThrow(
      /net\.ipv4\.ip_forward is 0 .*sysctl -w net\.ipv4\.ip_forward=1.*ftpmasq does not change it/,
    );
  });

  it('all present: resolves', async () => {
    await expect(checkKernelPrerequisites(new NftRunner({ executable: 'true' }), root)).resolves.toBeUndefined();
  });
});
