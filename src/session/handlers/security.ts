import { argumentText } from '../../protocol/command.js';
import {
  decideAuth,
  decideCcc,
  decideLogin,
  decidePbsz,
  decideProt,
  type SecurityDecision,
  type SecurityFacts,
} from '../../site/site-policy.js';
import type { Intent } from '../intents.js';
import { applyRefusal, type CommandHandler, type SessionScope } from './scope.js';

/**
 * FTPS towards the client (RFC 4217), decided by the site policy: AUTH, PBSZ, PROT and CCC are
 * answered by ftpmasq and never sent upstream on a site with a certificate (the server stays
 * plain); a site without one answers AUTH 534 and leaves the others to the server, as before.
 */
export const handleAuth: CommandHandler = (command, scope) => {
  apply(decideAuth(scope.site, argumentText(command), securityFacts(scope)), command.forward, scope);
};

export const handlePbsz: CommandHandler = (command, scope) => {
  apply(decidePbsz(scope.site, argumentText(command), securityFacts(scope)), command.forward, scope);
};

export const handleProt: CommandHandler = (command, scope) => {
  apply(decideProt(scope.site, argumentText(command), securityFacts(scope)), command.forward, scope);
};

export const handleCcc: CommandHandler = (command, scope) => {
  apply(decideCcc(scope.site), command.forward, scope);
};

/** USER, PASS, ACCT: with `clientTls: required`, refused before AUTH TLS; credentials never go upstream in clear. */
export const handleLogin: CommandHandler = (command, scope) => {
  // A copy: the argument is a view into the read chunk, which the user name would otherwise pin.
  const intent: Intent = command.verb === 'USER' ? { kind: 'plain', user: Buffer.from(command.argument) } : { kind: 'plain' };
  apply(decideLogin(scope.site, command.verb, securityFacts(scope)), command.forward, scope, intent);
};

/** What the TLS policy decides on: whether the control connection is TLS, and PBSZ seen. */
export function securityFacts(scope: SessionScope): SecurityFacts {
  const tls = scope.clientTls;
  return { controlTls: tls?.controlTls ?? false, pbszSeen: tls?.pbszSeen ?? false };
}

function apply(decision: SecurityDecision, line: Buffer, scope: SessionScope, intent: Intent = { kind: 'plain' }): void {
  switch (decision.kind) {
    case 'refuse':
      applyRefusal(scope, decision);
      return;
    case 'forward':
      scope.forward(line, intent);
      return;
    case 'answer':
      scope.answerLocally(decision.reply);
      return;
    case 'start-tls':
      scope.startTls(decision.reply);
      return;
    case 'pbsz':
      scope.clientTls?.notePbsz();
      scope.answerLocally(decision.reply);
      return;
    case 'prot':
      scope.clientTls?.setProtection(decision.level);
      scope.answerLocally(decision.reply);
      return;
  }
}
