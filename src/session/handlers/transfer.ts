import { ABOR_LINE } from '../../protocol/urgent-abort.js';
import type { CommandHandler, GatedRelay, SessionScope } from './scope.js';

/** After a negative transfer reply, how long the relay may still flush what it holds. */
export const NEGATIVE_REPLY_FLUSH_MS = 2000;

/** In place of a positive reply to a transfer whose data connection the stall timeout closed. */
export const STALLED_TRANSFER_REPLY = '426 Connection closed; transfer aborted: the data connection stalled.\r\n';

/**
 * RETR, STOR, LIST ...: forwarded; in active mode only once ftpmasq has reached the client's
 * data port, so a client that cannot be reached gets 425 and the server never starts (a STOR
 * would otherwise truncate the file). Later commands wait meanwhile, in order.
 */
export const handleTransfer: CommandHandler = (command, scope) => {
  const plan = scope.data.takeActivePlan();
  if (plan === undefined) {
    scope.forward(command.forward, { kind: 'transfer', command });
    return;
  }
  scope.holdCommands();
  void scope.data
    .connectActive(plan, () => scope.forward(command.forward, { kind: 'transfer', command }))
    .then((result) => {
      if (result.ok || scope.isClosed()) return;
      const target = `${plan.clientTarget.host}:${plan.clientTarget.port}`;
      scope.log.warn({ target, err: result.error }, 'active data connection to the client failed');
      scope.answerLocally("425 Can't open data connection to your PORT/EPRT address.\r\n");
    })
    .finally(() => scope.releaseCommands());
};

/**
 * The final reply to a transfer command reaches the client only after the data has. In active
 * mode the server may finish a small transfer before ftpmasq has reached the client: the reply
 * then waits for the relay to exist, and then for its data.
 */
export function answerTransferReply(line: Buffer, code: number, scope: SessionScope): Promise<void> | undefined {
  const setup = scope.data.settling;
  if (setup !== undefined) return setup.then(() => gateTransferReply(line, code, scope));
  return gateTransferReply(line, code, scope);
}

function gateTransferReply(line: Buffer, code: number, scope: SessionScope): Promise<void> | undefined {
  const relay = scope.data.currentRelay;
  if (relay === undefined || relay.isClosed) {
    finishTransfer(line, code, scope);
    return undefined;
  }
  return waitForRelay(line, code, relay, scope);
}

/**
 * A server may say 226 for bytes it handed to its kernel that ftpmasq never delivered: when the
 * stall timeout closed the transfer's relay, the client gets 426, not the server's success.
 */
function finishTransfer(line: Buffer, code: number, scope: SessionScope): void {
  // Kernel mode has no relay to wait for: the server's own ordering stands in for the gate, as behind a NAT.
  scope.data.transferReplied();
  const tlsRefusal = scope.data.takeTlsRefusal();
  if (tlsRefusal !== undefined) {
    // vsftpd's answer to the same refusal (require_ssl_reuse); the client got none of the data.
    scope.log.warn({ reply: line.toString('latin1').trim(), refusal: tlsRefusal }, 'transfer reply replaced: the TLS data connection was refused');
    scope.finish(`522 SSL connection failed: ${tlsRefusal}; resume the TLS session of the control connection.\r\n`);
    return;
  }
  if (scope.data.takeStall() && code < 400) {
    scope.log.warn({ reply: line.toString('latin1').trim() }, 'transfer reply replaced: the data connection stalled');
    scope.finish(STALLED_TRANSFER_REPLY);
    return;
  }
  scope.finish(line);
}

async function waitForRelay(line: Buffer, code: number, relay: GatedRelay, scope: SessionScope): Promise<void> {
  if (code < 400) {
    await relay.toClientDone();
  } else {
    // 426/451/550: the transfer failed; let the relay flush what it holds, briefly, then end it.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      relay.toClientDone(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, NEGATIVE_REPLY_FLUSH_MS);
      }),
    ]);
    clearTimeout(timer);
    relay.close('aborted');
  }
  if (scope.isClosed()) return;
  finishTransfer(line, code, scope);
}

/**
 * ABOR, in any of its forms (plain, behind Telnet IP and Synch, its LF lost as urgent data), goes
 * upstream at once as a plain `ABOR`, and the running transfer's relay is closed so a server
 * blocked writing to it can answer: `426` for the transfer, then `226` (or `225` when nothing
 * ran) for the ABOR, each in its turn.
 */
export const handleAbort: CommandHandler = (_command, scope) => {
  scope.forward(ABOR_LINE, { kind: 'plain' });
  scope.data.abortTransfers();
};

/**
 * STAT: forwarded at once, as any command. During a transfer its reply is told apart from the
 * transfer's, since a server may answer it before the transfer ends.
 */
export const handleStat: CommandHandler = (command, scope) => {
  scope.forward(command.forward, { kind: scope.transferPending() ? 'status' : 'plain' });
};
