/**
 * The core-proxy scenario shared by relay and rewrite mode: ftpmasq in the gateway namespace on
 * 203.0.113.10:21 in front of ProFTPD (no MasqueradeAddress), the whole client matrix through it, and the
 * process's own end: still running after the matrix, exit code 0 on SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_KINDS } from '../../helpers/clients.js';
import { type FtpmasqMode, type FtpmasqProcess, startFtpmasq } from '../../helpers/ftpmasq-process.js';
import { type NatMode, PUBLIC_ADDRESS } from '../../helpers/topology.js';
import { describeClientMatrix } from './client-matrix.js';
import { type E2eEnvironment, setUpEnvironment } from './environment.js';
import { MetricsSample } from './proxy-checks.js';

const LOG_TAIL_LINES = 60;
/** random-64MiB.bin, which each client of the matrix downloads once. */
const LARGE_FILE_BYTES = 64 * 1024 * 1024;
/** Each client of the matrix: one listing, three downloads, one upload. */
const DATA_CONNECTIONS_PER_CLIENT = 5;
const MATRIX_DATA_CONNECTIONS = CLIENT_KINDS.length * DATA_CONNECTIONS_PER_CLIENT;
/** ftpmasq's default --metrics-listen, inside the gateway namespace. */
const METRICS_URL = 'http://127.0.0.1:9464/metrics';

export function describeCoreProxy(mode: FtpmasqMode, nat: NatMode): void {
  let env: E2eEnvironment | undefined;
  let ftpmasq: FtpmasqProcess | undefined;
  const requireEnv = (): E2eEnvironment => {
    if (env === undefined) throw new Error('the e2e environment was not set up (see the beforeAll error)');
    return env;
  };
  const requireFtpmasq = (): FtpmasqProcess => {
    if (ftpmasq === undefined) throw new Error('ftpmasq was not started (see the beforeAll error)');
    return ftpmasq;
  };
  const logTail = (): string => {
    if (ftpmasq === undefined) return '';
    const lines = ftpmasq.output().trimEnd().split('\n');
    return `--- ftpmasq ${ftpmasq.args.join(' ')} (${ftpmasq.running() ? 'running' : 'EXITED'}), last ${LOG_TAIL_LINES} lines ---\n${lines.slice(-LOG_TAIL_LINES).join('\n')}`;
  };

  beforeAll(async () => {
    env = await setUpEnvironment();
    await env.topology.setNat(nat);
    ftpmasq = await startFtpmasq({ tools: env.tools, topology: env.topology, mode });
  });

  afterAll(async () => {
    try {
      await ftpmasq?.stop();
    } finally {
      await env?.teardown();
    }
  });

  describe(`ftpmasq --mode ${mode} (gateway NAT: ${nat})`, () => {
    describeClientMatrix(mode, CLIENT_KINDS, () => ({
      env: requireEnv(),
      endpoint: { address: PUBLIC_ADDRESS, port: 21 },
      diagnostics: logTail,
      expectedPasvAddress: PUBLIC_ADDRESS.replaceAll('.', ','),
    }));

    if (nat === 'passive-only') {
      it("sent the data connections through the gateway's NAT, not through ftpmasq", async () => {
        const connections = await requireEnv().topology.countNattedPassiveConnections();
        console.log(`[e2e] ftpmasq --mode ${mode}: the gateway NAT forwarded ${connections} data connections`);
        // curl-epsv's five among them: its EPSV reached ProFTPD, whose 229 named a port the NAT forwards.
        expect(connections).toBe(MATRIX_DATA_CONNECTIONS);
      });
    }

    it(`relayed ${mode === 'relay' ? 'every' : 'no'} data connection itself (ftpmasq_data_connections_total)`, async () => {
      const { tools, topology } = requireEnv();
      const run = await topology.exec(topology.gateway, tools.curl, ['--silent', '--show-error', '--max-time', '5', METRICS_URL]);
      expect(run.code, `GET ${METRICS_URL}: ${run.stderr}`).toBe(0);
      const sample = new MetricsSample(run.stdout.toString('utf8'));
      const passive = sample.value('ftpmasq_data_connections_total{mode="passive"}');
      const active = sample.value('ftpmasq_data_connections_total{mode="active"}');
      console.log(`[e2e] ftpmasq --mode ${mode}: data connections relayed: passive ${passive}, active ${active}`);
      expect({ passive, active }, logTail()).toEqual({ passive: mode === 'relay' ? MATRIX_DATA_CONNECTIONS : 0, active: 0 });
    });

    if (mode === 'relay') {
      // EPSV passthrough (the default --epsv): curl-epsv's EPSV reaches ProFTPD, whose own 229 is
      // what ftpmasq read and answered with its port; a translating proxy would log a 227 here.
      it("passed curl-epsv's EPSV to the server: ProFTPD's 229 came back for each of its data connections", () => {
        const fromServer = requireFtpmasq()
          .logRecords.filter((record) => record['msg'] === 'passive reply relayed')
          .map((record) => String(record['from']));
        const epsvReplies = fromServer.filter((reply) => reply.startsWith('229 '));
        expect(epsvReplies, logTail()).toHaveLength(DATA_CONNECTIONS_PER_CLIENT);
        expect(fromServer.filter((reply) => reply.startsWith('227 ')), logTail()).toHaveLength(MATRIX_DATA_CONNECTIONS - DATA_CONNECTIONS_PER_CLIENT);
      });
    }

    if (mode === 'kernel') {
      // Issue 14: the kernel's counters reach ftpmasq_data_bytes_total once each forwarding is
      // removed (up to 3 s after its final reply): at least every payload byte of the matrix.
      it('counted every byte of the matrix in the kernel (ftpmasq_data_bytes_total)', async () => {
        const { tools, topology, upload } = requireEnv();
        const atLeast = { toClient: CLIENT_KINDS.length * LARGE_FILE_BYTES, toServer: CLIENT_KINDS.length * upload.size };
        let counted = { toClient: 0, toServer: 0 };
        for (let attempt = 0; attempt < 40; attempt++) {
          const run = await topology.exec(topology.gateway, tools.curl, ['--silent', '--show-error', '--max-time', '5', METRICS_URL]);
          const sample = new MetricsSample(run.stdout.toString('utf8'));
          counted = {
            toClient: sample.value('ftpmasq_data_bytes_total{direction="to_client"}'),
            toServer: sample.value('ftpmasq_data_bytes_total{direction="to_server"}'),
          };
          if (counted.toClient >= atLeast.toClient && counted.toServer >= atLeast.toServer) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        console.log(`[e2e] ftpmasq --mode kernel: kernel counters ${JSON.stringify(counted)}, payload at least ${JSON.stringify(atLeast)}`);
        expect(counted.toClient, logTail()).toBeGreaterThanOrEqual(atLeast.toClient);
        expect(counted.toServer, logTail()).toBeGreaterThanOrEqual(atLeast.toServer);
        // IP and TCP headers on top of the payload, not a second copy of it.
        expect(counted.toClient).toBeLessThan(atLeast.toClient * 1.2);
      });
    }

    it('is still running after the matrix and exits 0 on SIGTERM', async () => {
      const proxy = requireFtpmasq();
      expect(proxy.running(), logTail()).toBe(true);
      const exit = await proxy.stop();
      const errors = proxy.logRecords.filter((record) => record['level'] === 'error' || record['level'] === 'fatal');
      console.log(`[e2e] ftpmasq --mode ${mode}: ${proxy.logRecords.length} log records, ${errors.length} at error level; exit ${exit.code ?? exit.signal}`);
      expect(exit, logTail()).toEqual({ code: 0, signal: null });
      expect(errors, logTail()).toEqual([]);
    });
  });
}
