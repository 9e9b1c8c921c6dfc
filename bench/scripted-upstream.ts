/**
 * The minimal scripted upstream: the demo's LegacyFtpServer (one event loop, a few KiB per
 * session) in the server namespace, so that the held-sessions and the session-rate figures
 * measure the proxy and not a forking server.
 *
 * Usage: scripted-upstream.js HOST PORT:ADVERTISED [PORT:ADVERTISED ...]. Each port gets its own
 * server, advertising ADVERTISED in its 227 replies (the private address, as the legacy server
 * does, or the public one, as a server with MasqueradeAddress does for the direct NAT path).
 * Prints `listening ...` once all listen, and runs until SIGTERM.
 */
import { LegacyFtpServer } from '../src/demo/legacy-ftp-server.js';

const [host = '0.0.0.0', ...specs] = process.argv.slice(2);
const servers = specs.map((spec) => {
  const [portText = '', advertisedAddress = '10.0.11.251'] = spec.split(':');
  return new LegacyFtpServer({
    host,
    port: Number(portText),
    advertisedAddress,
    files: new Map([['sample.txt', Buffer.from('hello, ftp!\n')]]),
  });
});
const addresses = await Promise.all(servers.map((server) => server.listen()));
process.stdout.write(`listening ${addresses.map((address) => `${address.host}:${address.port}`).join(' ')}\n`);
process.once('SIGTERM', () => {
  void Promise.all(servers.map((server) => server.close())).then(() => process.exit(0));
});
