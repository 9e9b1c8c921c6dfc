/**
 * For the daemon's integration tests: site and daemon configurations built as values (the way a
 * multi-site config file would produce them), an upstream whose downloads trickle so a transfer
 * is still running when a test reloads or drains, and small network helpers.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { buildConfig, type RawOptions } from '../../../src/config/schema.js';
import type { DaemonConfig, SiteConfig } from '../../../src/config/types.js';
import { type DataConnection, type Endpoint, type RawFtpClient, delay, withTimeout } from '../../helpers/raw-ftp-client.js';
import type { Script, UpstreamDataPort } from '../../helpers/scripted-upstream.js';

/** One site as buildConfig makes it from flags, under another name. */
export function siteConfig(name: string, raw: RawOptions & { upstream: string; passivePorts: string }): SiteConfig {
  const [site] = buildConfig({ listen: '127.0.0.1:0', logLevel: 'silent', ...raw }).sites;
  if (site === undefined) throw new Error('buildConfig made no site');
  return { ...site, name };
}

export function daemonConfig(sites: readonly SiteConfig[], overrides: Partial<Omit<DaemonConfig, 'sites'>> = {}): DaemonConfig {
  return { logLevel: 'silent', metricsListen: undefined, drainTimeoutMs: 5000, ...overrides, sites };
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Bytes that differ at every offset, so a lost or repeated chunk changes the checksum. */
export function patternedFile(bytes: number, seed: number): Buffer {
  const content = Buffer.alloc(bytes);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
    content[i] = state >>> 24;
  }
  return content;
}

export interface TrickleOptions {
  readonly chunkBytes: number;
  /** Pause after each chunk: the download lasts about (size / chunkBytes) * gapMs. */
  readonly gapMs: number;
}

/**
 * An upstream (for ScriptedUpstream) whose RETR sends the file in chunks with a pause after each,
 * then 226; 426 when the proxy closes the data connection first. PASV names 10.0.11.251 like an
 * unfixed server; LIST and STOR are not needed here.
 */
export function trickleScript(files: ReadonlyMap<string, Buffer>, options: TrickleOptions): Script {
  return async (connection) => {
    await connection.greetAndLogin();
    let dataPort: UpstreamDataPort | undefined;
    await connection.serve(async (verb, line) => {
      if (verb === 'PASV') {
        dataPort = await connection.openDataPort();
        return `227 Entering Passive Mode (${dataPort.tuple()}).\r\n`;
      }
      if (verb !== 'RETR') return undefined;
      const name = line.toString('latin1').slice(4).trim();
      const content = files.get(name);
      const port = dataPort;
      dataPort = undefined;
      if (content === undefined || port === undefined) return `550 ${name}: No such file or directory\r\n`;
      const data = await port.accept();
      connection.write(`150 Opening BINARY mode data connection for ${name} (${content.length} bytes)\r\n`);
      for (let offset = 0; offset < content.length; offset += options.chunkBytes) {
        if (data.socket.destroyed) return '426 Connection closed; transfer aborted.\r\n';
        await data.send(content.subarray(offset, offset + options.chunkBytes), { end: false });
        await delay(options.gapMs);
      }
      if (data.socket.destroyed) return '426 Connection closed; transfer aborted.\r\n';
      await data.send(Buffer.alloc(0), { end: true });
      return '226 Transfer complete\r\n';
    });
  };
}

/** A download begun: the 150 has arrived and the data is flowing. */
export interface RunningDownload {
  readonly passivePort: number;
  readonly data: DataConnection;
  /** The data (at EOF) and the final reply's code; rejects when the data connection is cut. */
  readonly finished: Promise<{ content: Buffer; finalCode: number | undefined }>;
}

/** PASV (trusting the 227, which names loopback here), RETR, and the 150: the transfer runs. */
export async function beginDownload(client: RawFtpClient, name: string): Promise<RunningDownload> {
  const target = await client.pasv();
  const data = await client.connectData(target);
  client.send(`RETR ${name}`);
  await client.expectReply(150);
  const finished = (async () => {
    const content = await withTimeout(data.ended, 20_000, () => `no data EOF\n${client.transcript()}`);
    const final = await client.readReply(20_000);
    return { content, finalCode: final.code };
  })();
  finished.catch(() => undefined);
  return { passivePort: target.port, data, finished };
}

/** Resolves true when a TCP connection to `endpoint` is refused, false when it is accepted. */
export function isRefused(endpoint: Endpoint): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: endpoint.host, port: endpoint.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${endpoint.host}:${endpoint.port} neither accepted nor refused within 3 s`));
    }, 3000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ECONNREFUSED') resolve(true);
      else reject(error);
    });
  });
}

/** A port free a moment ago on 127.0.0.1 (for a test that needs a fixed listen address). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no address');
  return address.port;
}

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

/** GET on loopback, bounded. */
export function httpGet(endpoint: Endpoint, path: string): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: endpoint.host, port: endpoint.port, path, timeout: 3000 }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`GET ${path} timed out`)));
    request.on('error', reject);
  });
}

/** The value of one series in a Prometheus text exposition, undefined when absent. */
export function seriesValue(exposition: string, series: string): number | undefined {
  const line = exposition.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
