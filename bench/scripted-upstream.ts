/**
 * The minimal scripted upstream for the held-sessions figure: the demo's LegacyFtpServer (one
 * event loop, a few KiB per session) in the server namespace, so that 5,000 sessions measure
 * ftpmasq and not a forking server. Usage: scripted-upstream.js HOST PORT. Prints
 * `listening HOST:PORT` and runs until SIGTERM.
 */
import { LegacyFtpServer } from '../src/demo/legacy-ftp-server.js';

const [host = '0.0.0.0', portText = '2200'] = process.argv.slice(2);
const server = new LegacyFtpServer({
  host,
  port: Number(portText),
  files: new Map([['sample.txt', Buffer.from('hello, ftp!\n')]]),
});
const address = await server.listen();
process.stdout.write(`listening ${address.host}:${address.port}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
