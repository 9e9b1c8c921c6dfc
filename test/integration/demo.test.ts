/**
 * `ftpmasq demo` as a newcomer runs it: the built CLI as a child process, its summary read from
 * the one machine-readable line, a second download by hand while it keeps serving, then SIGINT:
 * exit 0 and no listener left behind. Loopback only.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoSummary } from '../../src/demo/demo-report.js';
import { DEMO_FILE, DEMO_PASSWORD, DEMO_USER, createDemoSample } from '../../src/demo/demo-runner.js';
import { dial } from '../../src/net/dial.js';
import { parse227 } from '../../src/protocol/data-addresses.js';
import { FtpControlClient, receiveOverData, replySummary } from '../../src/probe/ftp-client.js';
import { type DemoProcess, isListening, startDemoProcess } from '../helpers/demo-process.js';

const cli = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const SUMMARY_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 10_000;

function endpointOf(text: string): { host: string; port: number } {
  const colon = text.lastIndexOf(':');
  return { host: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
}

function getText(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { timeout: 5000 }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      })
      .on('error', reject);
  });
}

const expectedSample = createDemoSample();
const expectedSha256 = createHash('sha256').update(expectedSample).digest('hex');

describe('ftpmasq demo', () => {
  let demo: DemoProcess | undefined;
  let summary: DemoSummary | undefined;

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error('dist/cli.js is missing: run `npm run build` first');
    demo = startDemoProcess(process.execPath, [cli, 'demo']);
    summary = await demo.waitForSummary(SUMMARY_TIMEOUT_MS);
  });

  afterAll(async () => {
    // Only if a test failed before the SIGINT test: do not leave the demo running.
    await demo?.kill();
  });

  function requireSummary(): DemoSummary {
    if (summary === undefined || demo === undefined) throw new Error('the demo did not start (see beforeAll)');
    return summary;
  }

  it('downloads the sample through ftpmasq, trusting the 227, with the right checksum', () => {
    const result = requireSummary();
    expect(result.status, demo?.output()).toBe('ok');
    expect(result.size).toBe(expectedSample.length);
    expect(result.sha256).toBe(expectedSha256);
    expect(result.serverSha256).toBe(expectedSha256);
    expect(result.matches).toBe(true);
  });

  it("shows the server's private 227 and ftpmasq's loopback one", () => {
    const result = requireSummary();
    expect(result.serverPasv).toMatch(/^227 Entering Passive Mode \(10,0,11,251,\d+,\d+\)\.$/);
    expect(result.clientPasv).toMatch(/^227 Entering Passive Mode \(127,0,0,1,\d+,\d+\)\.$/);
    expect(result.dataTarget).toMatch(/^127\.0\.0\.1:\d+$/);
    // ftpmasq gives out its own passive port, not the server's.
    const serverPort = parse227(Buffer.from(result.serverPasv ?? '', 'latin1'));
    const clientPort = parse227(Buffer.from(result.clientPasv ?? '', 'latin1'));
    expect(serverPort.ok && clientPort.ok && serverPort.value.port !== clientPort.value.port).toBe(true);
  });

  it('reads a rewrite counter of 1 or more from GET /metrics', () => {
    const result = requireSummary();
    expect(result.rewritesPasv).toBeGreaterThanOrEqual(1);
    expect(result.rewritesTotal).toBeGreaterThanOrEqual(1);
  });

  it('prints the commands to try by hand, against ftpmasq', async () => {
    const result = requireSummary();
    await demo?.waitForLine((line) => line.includes('press Ctrl-C'), 5000);
    const output = demo?.output() ?? '';
    expect(output).toContain(
      `curl -v --disable-epsv --no-ftp-skip-pasv-ip -o ${DEMO_FILE} ftp://${DEMO_USER}:${DEMO_PASSWORD}@${result.ftpmasq}/${DEMO_FILE}`,
    );
    expect(output).toContain(`curl -s ${result.metricsUrl} | grep ftpmasq_rewrites_total`);
  });

  it('keeps serving: a second trusting download by hand, and the counter goes up', async () => {
    const result = requireSummary();
    const ftpmasq = endpointOf(result.ftpmasq);
    const client = await FtpControlClient.connect({ ...ftpmasq, connectTimeoutMs: 5000, replyTimeoutMs: 5000 });
    try {
      expect((await client.readReply()).code).toBe(220);
      expect((await client.command(`USER ${DEMO_USER}`)).code).toBe(331);
      expect((await client.command(`PASS ${DEMO_PASSWORD}`)).code).toBe(230);
      const pasv = replySummary(await client.command('PASV'));
      const target = parse227(Buffer.from(pasv, 'latin1'));
      if (!target.ok) throw new Error(`unreadable 227: ${pasv}`);
      // Only loopback is ever dialled (the network rule of these tests).
      expect(target.value.host).toBe('127.0.0.1');
      const data = await dial({ ...target.value, timeoutMs: 5000, allowHalfOpen: false });
      const transfer = await receiveOverData(client, `RETR ${DEMO_FILE}`, data, 10_000);
      expect(transfer.final?.code).toBe(226);
      expect(createHash('sha256').update(transfer.data).digest('hex')).toBe(expectedSha256);
      await client.quit();
    } finally {
      client.close();
    }
    const metrics = await getText(result.metricsUrl);
    const match = /^ftpmasq_rewrites_total\{site="default",kind="pasv"\} (\d+)$/m.exec(metrics);
    expect(Number(match?.[1])).toBe((result.rewritesPasv ?? 0) + 1);
  });

  it('stops on SIGINT: exit 0, and none of its ports is listening any more', async () => {
    const result = requireSummary();
    const running = demo;
    if (running === undefined) throw new Error('no demo');
    expect(result.ports).toHaveLength(3);
    for (const port of result.ports) expect(await isListening(port)).toBe(true);
    running.interrupt(); // Ctrl-C
    const exit = await running.waitForExit(EXIT_TIMEOUT_MS);
    expect(exit, running.output()).toEqual({ code: 0, signal: null });
    expect(running.output()).toContain('ftpmasq-demo-stopped');
    for (const port of result.ports) expect(await isListening(port), `port ${port}`).toBe(false);
    const data = endpointOf(result.dataTarget ?? '');
    expect(await isListening(data.port), `passive port ${data.port}`).toBe(false);
  });
});
