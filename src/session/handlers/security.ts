import type { CommandHandler } from './scope.js';

/**
 * AUTH (TLS, SSL) is answered by ftpmasq and never sent upstream. RFC 2228 534: the control
 * channel must stay readable, or the 227 could not be fixed.
 */
export const handleAuth: CommandHandler = (command, scope) => {
  scope.refuse('auth_tls', { verb: command.verb });
  scope.answerLocally('534 AUTH is not available through this ftpmasq proxy; continue without TLS.\r\n');
};
