/**
 * A generated hostile upstream: a ScriptedUpstream script that answers each control connection
 * with replies drawn from a seeded Prng: sane replies now and then (so sessions get past login and
 * into PASV and transfers), random codes, long multi-line replies that end late or never, 227s with
 * odd numbers, Telnet-prefixed replies, garbage bytes, bare LF and NUL, silence, and early closes.
 *
 * Every 227 it sends names a private address (as a server behind NAT does) or no address: the
 * proxy must never dial it. Its data ports listen on 127.0.0.1. A "never ending" reply is bounded
 * by `maxReplyBytes` per session, so the upstream itself stays within memory; the proxy must stay
 * within its bound whatever arrives.
 */
import net from 'node:net';
import { Prng } from './prng.js';
import { UpstreamClosedError, type Script, type UpstreamConnection } from '../../test/helpers/scripted-upstream.js';

const IAC = 0xff;

export interface HostileUpstreamOptions {
  /** Bytes of continuation lines one session may be sent in total. */
  readonly maxReplyBytes: number;
  /** How long the script waits for the next command before it hangs up. */
  readonly commandWaitMs: number;
}

function telnetPrefix(prng: Prng): Buffer {
  return prng.pick([
    Buffer.from([IAC, 0xfb, 0x01]),
    Buffer.from([IAC, 0xfd, 0x03]),
    Buffer.from([IAC, 0xf4, IAC, 0xf2]),
    Buffer.from([IAC, IAC]),
    Buffer.from([IAC]),
  ]);
}

function tuple(prng: Prng, port: number): string {
  switch (prng.int(0, 6)) {
    case 0:
      return `10,0,11,251,${port >> 8},${port & 0xff}`;
    case 1:
      return `10,0,11,251,${prng.int(0, 3)},${prng.int(0, 255)}`;
    case 2:
      return `10,0,11,251,${prng.int(256, 999)},${prng.int(-1, 999)}`;
    case 3:
      return `999,999,999,999,${port >> 8},${port & 0xff}`;
    case 4:
      return `10,0,11,251,${port >> 8}`;
    case 5:
      return `192,168,${prng.int(0, 255)},${prng.int(1, 254)},${port >> 8},${port & 0xff}`;
    default:
      return `10,0,11,251,0,0`;
  }
}

/** A data listener on loopback for this session: sends random bytes, closes, or resets whoever connects. */
async function openDataPort(prng: Prng, servers: Set<net.Server>, sockets: Set<net.Socket>): Promise<number> {
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.resume();
    switch (prng.int(0, 3)) {
      case 0:
        socket.end(prng.bytes(prng.int(0, 65_536)));
        return;
      case 1:
        socket.resetAndDestroy();
        return;
      case 2:
        socket.destroy();
        return;
      default:
        // Stays open: the proxy's data-stall timeout must end it.
        return;
    }
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, () => resolve()));
  const address = server.address();
  return address !== null && typeof address !== 'string' ? address.port : 0;
}

/** The script: one forked Prng per accepted control connection. */
export function hostileUpstreamScript(seedPrng: Prng, options: HostileUpstreamOptions): Script {
  return async (connection: UpstreamConnection) => {
    const prng = seedPrng.fork();
    const servers = new Set<net.Server>();
    const sockets = new Set<net.Socket>();
    let replyBudget = options.maxReplyBytes;
    const write = async (bytes: Buffer | string): Promise<boolean> => {
      if (connection.socket.destroyed) return false;
      const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
      if (!connection.socket.write(buffer)) {
        await new Promise<void>((resolve) => {
          connection.socket.once('drain', () => resolve());
          connection.socket.once('close', () => resolve());
        });
      }
      return !connection.socket.destroyed;
    };
    const longReply = async (code: string, end: boolean): Promise<void> => {
      if (!(await write(`${code}-start\r\n`))) return;
      const lineLength = prng.pick([1, 3, 60, 500]);
      const line = `${' '.repeat(Math.max(0, lineLength - 1))}x\r\n`;
      const lines = Math.min(prng.int(1, 50_000), Math.floor(replyBudget / line.length));
      replyBudget -= lines * line.length;
      const batch = 64;
      for (let written = 0; written < lines; written += batch) {
        if (!(await write(line.repeat(Math.min(batch, lines - written))))) return;
      }
      if (end) await write(`${code} end\r\n`);
    };
    try {
      switch (prng.int(0, 9)) {
        case 0:
          connection.destroy();
          return;
        case 1:
          // No greeting: the proxy's greeting timeout must answer the client.
          break;
        case 2:
          await write(Buffer.concat([telnetPrefix(prng), Buffer.from('220 telnet-prefixed\r\n', 'latin1')]));
          break;
        case 3:
          await write(prng.bytes(prng.int(1, 300)));
          break;
        case 4:
          await write('120 wait\r\n220 now\r\n');
          break;
        case 5:
          await longReply('220', prng.chance(0.5));
          break;
        default:
          await write('220 hostile upstream\r\n');
      }
      for (;;) {
        const line = await connection.readCommand(options.commandWaitMs);
        const verb = line.toString('latin1').replace(/[\r\n]+$/, '').split(/[ \t]/)[0]?.toUpperCase() ?? '';
        switch (prng.int(0, 14)) {
          case 0:
          case 1:
          case 2: {
            // A sane answer, so sessions get further.
            if (verb === 'USER') await write('331 password please\r\n');
            else if (verb === 'PASS') await write('230 in\r\n');
            else if (verb === 'PASV') await write(`227 Entering Passive Mode (${tuple(prng, await openDataPort(prng, servers, sockets))}).\r\n`);
            else if (verb === 'EPSV') await write(`229 Entering Extended Passive Mode (|||${await openDataPort(prng, servers, sockets)}|)\r\n`);
            else if (verb === 'RETR' || verb === 'LIST' || verb === 'STOR') await write(`150 here it comes\r\n${prng.chance(0.7) ? '226 done\r\n' : ''}`);
            else if (verb === 'QUIT') {
              await write('221 bye\r\n');
              connection.socket.end();
              return;
            } else await write('200 ok\r\n');
            break;
          }
          case 3:
            await write(`${prng.int(0, 999).toString().padStart(3, '0')}${prng.pick([' ', '-', '', '\t'])}random\r\n`);
            break;
          case 4:
            await longReply(prng.pick(['227', '229', '150', '211', '500']), prng.chance(0.3));
            break;
          case 5:
            await write(`227 ${prng.pick(['Entering Passive Mode ', '', '=', '(('])}${tuple(prng, await openDataPort(prng, servers, sockets))}${prng.pick([')', '', ').'])}\r\n`);
            break;
          case 6:
            await write(Buffer.concat([telnetPrefix(prng), Buffer.from(`${prng.pick(['200', '227', '226', '331'])} prefixed\r\n`, 'latin1')]));
            break;
          case 7:
            await write(prng.bytes(prng.int(1, 2000)));
            break;
          case 8:
            await write(`${prng.pick(['200', '226', '150'])} bare${prng.pick(['\n', '\0\r\n', '\r', '\r\r\n'])}`);
            break;
          case 9:
            // Silence: the client waits; the proxy's idle timeout must end the session.
            break;
          case 10:
            connection.destroy();
            return;
          case 11:
            connection.socket.end(`421 going away\r\n`);
            return;
          case 12:
            await write('226 unasked\r\n200 twice\r\n');
            break;
          case 13:
            await write(
              `229 Entering Extended Passive Mode (${prng.pick(['|||0|', '|||70000|', '|||22|', '!!!x!', '|1|10.0.0.1|2121|', '||||', `|2|::1|${await openDataPort(prng, servers, sockets)}|`, '|2|fd00::1|2121|', '|||65535|'])})\r\n`,
            );
            break;
          default:
            await write('500 no\r\n');
        }
      }
    } catch (error) {
      // The proxy hanging up, or no command within commandWaitMs: both end this session quietly.
      if (!(error instanceof UpstreamClosedError) && !(error instanceof Error)) throw error;
    } finally {
      connection.destroy();
      for (const server of servers) server.close();
      for (const socket of sockets) socket.destroy();
    }
  };
}
