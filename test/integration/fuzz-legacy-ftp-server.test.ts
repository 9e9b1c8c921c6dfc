/**
 * Found by the fuzzer (npm run fuzz left a listening socket behind): LegacyFtpServer went on
 * handling the commands queued behind a blocked RETR after the client had gone, and a PASV among
 * them opened a passive listener that nothing closed any more.
 */
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LegacyFtpServer } from '../../src/demo/legacy-ftp-server.js';
import { delay, waitUntil } from '../helpers/raw-ftp-client.js';

function listeningServers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'TCPServerWrap').length;
}

let legacy: LegacyFtpServer | undefined;
afterEach(async () => {
  await legacy?.close();
});

describe('LegacyFtpServer after the client has gone', () => {
  it('handles none of the commands still queued: no passive listener is left open', async () => {
    legacy = new LegacyFtpServer({ host: '127.0.0.1', files: new Map([['sample.txt', Buffer.from('x')]]) });
    const endpoint = await legacy.listen();
    const before = listeningServers();
    const client = net.connect(endpoint);
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));
    // RETR waits for a data connection that never comes; the PASVs behind it wait in the queue.
    client.write('USER scott\r\nPASS tiger\r\nPASV\r\nRETR sample.txt\r\nPASV\r\nPASV\r\n');
    await waitUntil(() => listeningServers() > before, 2000, () => 'no passive listener for the first PASV');
    client.destroy();
    await waitUntil(() => legacy?.connectionCount === 0, 5000, () => 'the server still holds the connection');
    await delay(100);
    expect(listeningServers()).toBe(before);
  });
});
