import { describe, expect, it } from 'vitest';
import { refuseDataTarget } from '../../../src/probe/run-probe.js';

// The probe dials only the server's own addresses: a 227 naming this machine or a whole network is not dialled.
describe('refuseDataTarget', () => {
  const cases: { title: string; host: string; port: number; control: string; expected: RegExp | undefined }[] = [
    { title: 'a private 227 address', host: '10.0.11.251', port: 60000, control: '203.0.113.10', expected: undefined },
    { title: 'the control address', host: '203.0.113.10', port: 60000, control: '203.0.113.10', expected: undefined },
    { title: 'loopback, when the server is not on loopback', host: '127.0.0.1', port: 60000, control: '203.0.113.10', expected: /loopback/ },
    { title: 'loopback, when the server is', host: '127.0.0.1', port: 60000, control: '127.0.0.1', expected: undefined },
    { title: '0.0.0.0', host: '0.0.0.0', port: 60000, control: '203.0.113.10', expected: /unspecified/ },
    { title: 'broadcast', host: '255.255.255.255', port: 60000, control: '203.0.113.10', expected: /broadcast/ },
    { title: 'multicast', host: '224.0.0.1', port: 60000, control: '203.0.113.10', expected: /multicast/ },
    { title: 'a port below 1024', host: '10.0.11.251', port: 22, control: '203.0.113.10', expected: /port 22 is below 1024/ },
    { title: 'a port below 1024 at the control address', host: '203.0.113.10', port: 1023, control: '203.0.113.10', expected: /below 1024/ },
    { title: 'port 1024', host: '10.0.11.251', port: 1024, control: '203.0.113.10', expected: undefined },
  ];
  for (const { title, host, port, control, expected } of cases) {
    it(title, () => {
      const refusal = refuseDataTarget({ host, port }, control);
      if (expected === undefined) expect(refusal).toBeUndefined();
      else expect(refusal).toMatch(expected);
    });
  }
});
