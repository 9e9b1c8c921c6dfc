/**
 * The problem ftpmasq exists for, shown without ftpmasq: ProFTPD behind a plain 1:1 NAT (no
 * MasqueradeAddress) answers PASV with its private 10.0.11.251. A client that trusts the 227 address
 * fails to connect at once (no route to 10.0.11.0/24), while EPSV clients, which dial the control peer,
 * work through the same NAT.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, describeRun } from '../helpers/clients.js';
import { SAMPLE_FILE } from '../helpers/proftpd.js';
import { GATEWAY_PRIVATE_ADDRESS, PUBLIC_ADDRESS, SERVER_ADDRESS } from '../helpers/topology.js';
import { describeClientMatrix } from './support/client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';

let env: E2eEnvironment | undefined;

function requireEnv(): E2eEnvironment {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
}

beforeAll(async () => {
  env = await setUpEnvironment();
});

afterAll(async () => {
  await env?.teardown();
});

describe('the harness', () => {
  it('ProFTPD answers PASV with its private address 10.0.11.251 (seen from the gateway)', async () => {
    const { tools, topology, clientDir } = requireEnv();
    const client = createClient('curl-legacy', {
      tools,
      topology,
      host: { namespace: topology.gateway, address: GATEWAY_PRIVATE_ADDRESS },
      endpoint: { address: SERVER_ADDRESS, port: 21 },
    });
    const run = await client.download(SAMPLE_FILE, join(clientDir, 'direct-sample.txt'));
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stderr).toMatch(/227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)/);
  });
});

describe('legacy clients through a plain 1:1 NAT', () => {
  beforeAll(async () => {
    await requireEnv().topology.setNat('one-to-one');
  });

  it('curl --disable-epsv --no-ftp-skip-pasv-ip fails to connect to 10.0.11.251', async () => {
    const { tools, topology, clientDir } = requireEnv();
    const client = createClient('curl-legacy', {
      tools,
      topology,
      host: topology.client,
      endpoint: { address: PUBLIC_ADDRESS, port: 21 },
    });
    const run = await client.download(SAMPLE_FILE, join(clientDir, 'nat-curl-legacy-sample.txt'));
    console.log(`[e2e figures] mode=nat client=curl-legacy RETR ${SAMPLE_FILE}: exit ${run.code} after ${run.durationMs} ms`);
    // The login and PASV went through the NAT; only the data connection to the 227 address failed.
    expect(run.stderr, describeRun(run)).toMatch(/227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)/);
    expect(run.timedOut, describeRun(run)).toBe(false);
    expect(run.code, describeRun(run)).toBe(7); // CURLE_COULDNT_CONNECT
    expect(run.stderr).toMatch(/Trying 10\.0\.11\.251:\d+/);
    expect(run.stderr).toMatch(/Network is unreachable/); // ENETUNREACH: no route, so it fails at once
  });

  it('Python ftplib trusting the 227 address fails with ENETUNREACH', async () => {
    const { tools, topology, clientDir } = requireEnv();
    const client = createClient('python-ftplib', {
      tools,
      topology,
      host: topology.client,
      endpoint: { address: PUBLIC_ADDRESS, port: 21 },
    });
    const run = await client.download(SAMPLE_FILE, join(clientDir, 'nat-ftplib-sample.txt'));
    console.log(`[e2e figures] mode=nat client=python-ftplib RETR ${SAMPLE_FILE}: exit ${run.code} after ${run.durationMs} ms`);
    expect(run.stderr, describeRun(run)).toMatch(/227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)/);
    expect(run.timedOut, describeRun(run)).toBe(false);
    expect(run.code, describeRun(run)).toBe(1);
    expect(run.stderr).toMatch(/OSError errno=101/); // ENETUNREACH
  });
});

describe('EPSV through the same NAT', () => {
  beforeAll(async () => {
    await requireEnv().topology.setNat('one-to-one');
  });

  describeClientMatrix('nat', ['curl-epsv'], () => ({
    env: requireEnv(),
    endpoint: { address: PUBLIC_ADDRESS, port: 21 },
    diagnostics: () => '',
  }));
});
