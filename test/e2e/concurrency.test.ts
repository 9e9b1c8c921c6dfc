/**
 * Many sessions at once, end to end (issue 11, "Faults end to end"): 50 clients, each with its own
 * file of its own size (0 B to 64 MiB), upload it through ftpmasq to the real ProFTPD and download
 * it back, all at the same time, in relay mode and in rewrite mode. Every byte is checked three
 * times: the client's original, the copy on the server's disk, and the copy downloaded back.
 *
 * curl (legacy: it trusts the 227) is the client, one process per transfer, all 50 running
 * together from one client host; ProFTPD is allowed more instances than its default 50 so that
 * ftpmasq's own upstream check never takes the place of a client.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, describeRun, type FtpClient } from '../helpers/clients.js';
import { type FtpmasqMode, type FtpmasqProcess, startFtpmasq } from '../helpers/ftpmasq-process.js';
import { type FileFigures, figuresOf, writeRandomFile } from '../helpers/proftpd.js';
import { type NatMode, PUBLIC_ADDRESS } from '../helpers/topology.js';
import { type E2eEnvironment, setUpEnvironment } from './support/environment.js';

const CLIENTS = 50;
const KIB = 1024;
const MIB = 1024 * KIB;

/**
 * One size per client: the edges (empty, one byte, around a 64 KiB read buffer), then a spread of
 * small and middle sizes, and two of 64 MiB so that large transfers overlap the small ones.
 */
function sizeOf(index: number): number {
  const fixed = [0, 1, 12, 1000, 64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 64 * MIB, 64 * MIB];
  const chosen = fixed[index];
  if (chosen !== undefined) return chosen;
  // Sizes between 4 KiB and 8 MiB, spread geometrically, none a round number.
  const step = index - fixed.length;
  const steps = CLIENTS - fixed.length;
  return Math.round(4 * KIB * Math.pow((8 * MIB) / (4 * KIB), step / (steps - 1))) + index;
}

let env: E2eEnvironment | undefined;
const requireEnv = (): E2eEnvironment => {
  if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
  return env;
};

const originals: FileFigures[] = [];

beforeAll(async () => {
  env = await setUpEnvironment({ proftpdExtraConfig: 'MaxInstances 120\n' });
  for (let index = 0; index < CLIENTS; index++) {
    originals.push(await writeRandomFile(join(env.clientDir, `own-${index}.bin`), sizeOf(index)));
  }
}, 300_000);

afterAll(async () => {
  await env?.teardown();
});

function client(): FtpClient {
  const { tools, topology } = requireEnv();
  return createClient('curl-legacy', { tools, topology, host: topology.client, endpoint: { address: PUBLIC_ADDRESS, port: 21 } });
}

interface Outcome {
  readonly index: number;
  readonly problem: string | undefined;
}

/** One client's round trip: upload its file, check the server's copy, download it back, check that. */
async function roundTrip(mode: FtpmasqMode, index: number): Promise<Outcome> {
  const { clientDir, proftpd } = requireEnv();
  const original = originals[index];
  if (original === undefined) throw new Error(`no file for client ${index}`);
  const local = join(clientDir, `own-${index}.bin`);
  const remote = `${mode}-own-${index}.bin`;
  const upload = await client().upload(local, remote);
  if (upload.code !== 0) return { index, problem: `upload failed: ${describeRun(upload)}` };
  const stored = await figuresOf(join(proftpd.root, remote), remote);
  if (stored.sha256 !== original.sha256 || stored.size !== original.size) {
    return { index, problem: `the server stored ${stored.size} B ${stored.sha256}, expected ${original.size} B ${original.sha256}` };
  }
  const back = join(clientDir, `back-${mode}-${index}.bin`);
  const download = await client().download(remote, back);
  if (download.code !== 0) return { index, problem: `download failed: ${describeRun(download)}` };
  const received = await figuresOf(back, remote);
  await rm(back, { force: true });
  if (received.sha256 !== original.sha256 || received.size !== original.size) {
    return { index, problem: `downloaded ${received.size} B ${received.sha256}, expected ${original.size} B ${original.sha256}` };
  }
  return { index, problem: undefined };
}

const MODES: readonly { readonly mode: FtpmasqMode; readonly nat: NatMode }[] = [
  { mode: 'relay', nat: 'off' },
  // Rewrite mode: the data goes by the gateway's NAT of the server's passive range, as deployed.
  { mode: 'rewrite', nat: 'passive-only' },
];

describe(`${CLIENTS} concurrent clients, each uploading and downloading its own file (0 B to 64 MiB)`, () => {
  it.each(MODES)('--mode $mode: every file arrives intact on the server and back at its client', async ({ mode, nat }) => {
    const { tools, topology } = requireEnv();
    await topology.setNat(nat);
    let proxy: FtpmasqProcess | undefined;
    try {
      proxy = await startFtpmasq({ tools, topology, mode });
      const outcomes = await Promise.all(originals.map((_, index) => roundTrip(mode, index)));
      expect(outcomes.filter((outcome) => outcome.problem !== undefined)).toEqual([]);
      expect(outcomes).toHaveLength(CLIENTS);
    } finally {
      await proxy?.stop();
    }
  }, 600_000);
});
