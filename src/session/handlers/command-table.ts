import { TRANSFER_VERBS } from '../intents.js';
import { handleActive } from './active.js';
import { handleFeat, handleLongAddressCommand } from './features.js';
import { handleEpsv, handlePasv } from './passive.js';
import type { CommandHandler } from './scope.js';
import { handleAuth, handleCcc, handleLogin, handlePbsz, handleProt } from './security.js';
import { handleAbort, handleStat, handleTransfer } from './transfer.js';

/** Every other command goes upstream as it came (ending in CRLF), its reply passed back unchanged. */
export const forwardPlain: CommandHandler = (command, scope) => {
  scope.forward(command.forward, { kind: 'plain' });
};

/** The verbs ftpmasq handles itself, by family (security, passive, active, features, transfer). */
export const COMMAND_HANDLERS: ReadonlyMap<string, CommandHandler> = new Map<string, CommandHandler>([
  ['AUTH', handleAuth],
  ['PBSZ', handlePbsz],
  ['PROT', handleProt],
  ['CCC', handleCcc],
  ['USER', handleLogin],
  ['PASS', handleLogin],
  ['ACCT', handleLogin],
  ['PASV', handlePasv],
  ['EPSV', handleEpsv],
  ['PORT', handleActive],
  ['EPRT', handleActive],
  ['LPSV', handleLongAddressCommand],
  ['LPRT', handleLongAddressCommand],
  ['FEAT', handleFeat],
  ['ABOR', handleAbort],
  ['STAT', handleStat],
  ...[...TRANSFER_VERBS].map((verb): [string, CommandHandler] => [verb, handleTransfer]),
]);

export function handlerFor(verb: string): CommandHandler {
  return COMMAND_HANDLERS.get(verb) ?? forwardPlain;
}
