/**
 * `ftpmasq probe`'s TLS check (issue 12): whether the server offers AUTH TLS, its certificate, and
 * whether it requires TLS session reuse on data connections, found by trying a fresh and a
 * resumed TLS data connection against servers on loopback that do and do not require it.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PROBE_TIMEOUTS } from '../../src/probe/run-probe.js';
import { formatTlsProbe, runTlsProbe } from '../../src/probe/tls-probe.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { FtpsUpstream } from './support/ftps-upstream.js';
import { makeCertificate, type TestCertificate } from './support/ftps-fixtures.js';

const { scripted } = createProxyHarness({ passivePorts: '29250-29269' });
let certificate: TestCertificate;
const servers: FtpsUpstream[] = [];
beforeAll(() => {
  certificate = makeCertificate('fmq-probe-tls');
});
afterAll(() => certificate.remove());
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

async function ftpsServer(requireReuse: boolean): Promise<{ host: string; port: number }> {
  const server = await FtpsUpstream.start({
    mode: 'explicit',
    cert: readFileSync(certificate.certFile, 'utf8'),
    key: readFileSync(certificate.keyFile, 'utf8'),
    files: new Map([['small.txt', Buffer.from('hello\n')]]),
    requireReuse,
  });
  servers.push(server);
  const [host = '', port = ''] = server.address.split(':');
  return { host, port: Number(port) };
}

const target = (endpoint: { host: string; port: number }) => ({ ...endpoint, user: 'scott', password: 'tiger' });

describe('runTlsProbe', () => {
  it('finds that a server requires session reuse: a fresh data handshake fails, a resumed one lists', async () => {
    const probe = await runTlsProbe(target(await ftpsServer(true)), DEFAULT_PROBE_TIMEOUTS);
    expect(probe).toMatchObject({ outcome: 'offered', sessionReuse: { verdict: 'required' } });
    const fingerprint = new X509Certificate(readFileSync(certificate.certFile)).fingerprint256;
    expect(probe).toMatchObject({ certificate: { fingerprint256: fingerprint, trusted: false } });
    const report = formatTlsProbe(probe);
    expect(report).toContain('session reuse         required');
    expect(report).toContain(`--upstream-tls explicit --upstream-tls-fingerprint ${fingerprint}`);
  });

  it('finds that a server does not require it', async () => {
    const probe = await runTlsProbe(target(await ftpsServer(false)), DEFAULT_PROBE_TIMEOUTS);
    expect(probe).toMatchObject({ outcome: 'offered', sessionReuse: { verdict: 'not-required' } });
  });

  it('reports a plain server as not offering AUTH TLS', async () => {
    const upstream = await scripted(async (connection) => {
      connection.write('220 plain server\r\n');
      await connection.expectCommand('AUTH');
      connection.write('502 AUTH not implemented\r\n');
      await connection.serve();
    });
    const [host = '', port = ''] = upstream.address.split(':');
    const probe = await runTlsProbe(target({ host, port: Number(port) }), DEFAULT_PROBE_TIMEOUTS);
    expect(probe.outcome).toBe('not-offered');
    expect(formatTlsProbe(probe)).toContain('not offered (502 AUTH not implemented)');
  });
});
