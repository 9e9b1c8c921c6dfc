/**
 * The problem ftpmasq exists for, shown without ftpmasq: ProFTPD behind a plain 1:1 NAT (no
 * MasqueradeAddress) answers PASV with its private 10.0.11.251. A client that trusts the 227 address
 * (legacy curl, ftplib, lftp with `ftp:fix-pasv-address no`) fails to connect at once (no route to
 * 10.0.11.0/24), while EPSV clients and lftp's own address fix, which dial the control peer, work through
 * the same NAT.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, createLftpClient, describeRun } from '../helpers/clients.js';
import { SAMPLE_FILE, figuresOf } from '../helpers/proftpd.js';
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

  it('lftp with ftp:fix-pasv-address off fails with ENETUNREACH, and does not fall back to PORT', async () => {
    const { tools, topology, clientDir } = requireEnv();
    const client = createClient('lftp', {
      tools,
      topology,
      host: topology.client,
      endpoint: { address: PUBLIC_ADDRESS, port: 21 },
    });
    const run = await client.download(SAMPLE_FILE, join(clientDir, 'nat-lftp-sample.txt'));
    console.log(`[e2e figures] mode=nat client=lftp RETR ${SAMPLE_FILE}: exit ${run.code} after ${run.durationMs} ms`);
    expect(run.stderr, describeRun(run)).toMatch(/<--- 227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)/);
    expect(run.timedOut, describeRun(run)).toBe(false);
    expect(run.code, describeRun(run)).toBe(1); // cmd:fail-exit: the failed get ends lftp
    expect(run.stderr).toMatch(/Connecting data socket to \(10\.0\.11\.251\) port \d+/);
    expect(run.stderr).toMatch(/connect: Network is unreachable \(101\)/); // ENETUNREACH, at once
    expect(run.stderr).toMatch(/max-retries exceeded/); // net:max-retries 1: no second try
    // ftp:auto-passive-mode switches to PORT only after lftp fixed the address itself, which it did not.
    expect(run.stderr).not.toMatch(/has been fixed|Switching passive mode off|^---> (PORT|EPRT|EPSV)\b/m);
  });

  it("lftp's default ftp:fix-pasv-address yes works through the same NAT: it dials the control peer instead", async () => {
    // The contrast that pins the failure above on the one setting: lftp replaces a private 227 address by
    // the control peer's when that one is not in 10/8, 172.16/12, 192.168/16 (203.0.113.10 is not).
    const { tools, topology, clientDir, proftpd } = requireEnv();
    const client = createLftpClient(
      { tools, topology, host: topology.client, endpoint: { address: PUBLIC_ADDRESS, port: 21 } },
      ['ftp:fix-pasv-address yes'],
    );
    const localPath = join(clientDir, 'nat-lftp-fixed-sample.txt');
    const run = await client.download(SAMPLE_FILE, localPath);
    console.log(`[e2e figures] mode=nat client=lftp+fix-pasv-address RETR ${SAMPLE_FILE}: exit ${run.code} after ${run.durationMs} ms`);
    expect(run.code, describeRun(run)).toBe(0);
    expect(run.stderr).toMatch(/<--- 227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)/);
    expect(run.stderr).toMatch(/Address returned by PASV seemed to be incorrect and has been fixed/);
    expect(run.stderr).toMatch(/Connecting data socket to \(203\.0\.113\.10\) port \d+/);
    expect(run.stderr).not.toMatch(/Connecting data socket to \(10\./);
    expect(await figuresOf(localPath, SAMPLE_FILE)).toEqual(proftpd.fixtures.get(SAMPLE_FILE));
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
