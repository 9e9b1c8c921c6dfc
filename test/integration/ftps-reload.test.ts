/**
 * The certificate is part of the site: a reload (SIGHUP) re-reads the files, new sessions get the
 * new certificate, a session already running keeps the one it started with, and a reload with a
 * broken key leaves the running configuration (and certificate) in place.
 */
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/schema.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { FtpsTestClient, makeCertificate, type TestCertificate } from './support/ftps-fixtures.js';

const { legacyServer, startProxy } = createProxyHarness({ passivePorts: '24200-24209' });

let first: TestCertificate;
let second: TestCertificate;
beforeAll(() => {
  first = makeCertificate('ftpmasq-first');
  second = makeCertificate('ftpmasq-second');
});
afterAll(() => {
  first.remove();
  second.remove();
});

async function fingerprintOf(endpoint: { host: string; port: number }): Promise<{ client: FtpsTestClient; fingerprint: string }> {
  const client = await FtpsTestClient.connect(endpoint);
  expect((await client.reply()).code).toBe(220);
  const secure = await client.startTls();
  return { client, fingerprint: secure.getPeerCertificate().fingerprint256 };
}

describe('reload', () => {
  it('re-reads the certificate: new sessions get the new one, a running session keeps its own', async () => {
    const upstream = await legacyServer();
    // The daemon reads the files under these paths; the test replaces their contents.
    const live = makeCertificate('ftpmasq-live');
    copyFileSync(first.certFile, live.certFile);
    copyFileSync(first.keyFile, live.keyFile);
    const flags = { upstream: upstream.address, listen: '127.0.0.1:0', metricsListen: 'off', passivePorts: '24200-24209', logLevel: 'silent', tlsCert: live.certFile, tlsKey: live.keyFile };
    const proxy = await startProxy(upstream.address, { tlsCert: live.certFile, tlsKey: live.keyFile });
    const before = await fingerprintOf(proxy.endpoint);

    copyFileSync(second.certFile, live.certFile);
    copyFileSync(second.keyFile, live.keyFile);
    const reloaded = await proxy.daemon.reload(buildConfig({ ...flags }));
    expect(reloaded, JSON.stringify(reloaded)).toMatchObject({ ok: true, changed: [{ name: 'default', keys: ['tls'] }] });

    const after = await fingerprintOf(proxy.endpoint);
    expect(after.fingerprint).not.toBe(before.fingerprint);
    // The session that started before the reload still works over its own TLS.
    expect((await before.client.command('NOOP')).code).toBe(200);

    // A key that does not match its certificate fails the reload; the running certificate stays.
    writeFileSync(live.keyFile, readKey(first));
    expect(() => buildConfig({ ...flags })).toThrow(/--tls-key: expected a private key matching/);
    const still = await fingerprintOf(proxy.endpoint);
    expect(still.fingerprint).toBe(after.fingerprint);
    for (const client of [before.client, after.client, still.client]) client.close();
    live.remove();
  });
});

function readKey(certificate: TestCertificate): string {
  return readFileSync(path.join(certificate.dir, 'key.pem'), 'utf8');
}
