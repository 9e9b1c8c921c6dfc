import { argumentText } from '../../protocol/command.js';
import { decideActive } from '../../site/site-policy.js';
import type { Intent } from '../intents.js';
import { applyRefusal, PASV_LINE, withPrefix, type CommandHandler, type SessionScope } from './scope.js';

/**
 * PORT/EPRT: checked by the site policy (disabled, EPSV ALL, syntax, bounce). The server's own
 * active mode would need a route back through the gateway: ftpmasq asks for a passive port
 * upstream instead and connects out to the client itself when the transfer command comes.
 */
export const handleActive: CommandHandler = (command, scope) => {
  const verb = command.verb === 'EPRT' ? 'EPRT' : 'PORT';
  const decision = decideActive(scope.site, verb, argumentText(command), scope.facts());
  if (decision.kind === 'refuse') {
    applyRefusal(scope, decision);
    return;
  }
  scope.data.rollback();
  scope.forward(PASV_LINE, { kind: 'active', clientTarget: decision.target, verb });
};

/** The server's 227 to the PASV sent for a PORT/EPRT: the plan is kept, the client gets 200. */
export function answerActiveReply(
  intent: Extract<Intent, { kind: 'active' }>,
  upstreamPort: number,
  eol: string,
  scope: SessionScope,
  telnetPrefix: Buffer = Buffer.alloc(0),
): void {
  scope.data.prepareActive({ clientTarget: intent.clientTarget, upstreamPort });
  scope.metrics.rewrite(intent.verb === 'PORT' ? 'port' : 'eprt');
  scope.log.info(
    { verb: intent.verb, target: `${intent.clientTarget.host}:${intent.clientTarget.port}`, upstreamPort },
    'active command relayed',
  );
  scope.finish(withPrefix(telnetPrefix, `200 ${intent.verb} command successful.${eol}`));
}
