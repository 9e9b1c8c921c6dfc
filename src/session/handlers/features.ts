import { dropsFeatureLine } from '../../site/site-policy.js';
import type { CommandHandler, SessionScope } from './scope.js';

/** FEAT goes upstream; its reply lines pass through `passFeatureLine`. */
export const handleFeat: CommandHandler = (command, scope) => {
  scope.forward(command.forward, { kind: 'feat' });
};

/** A line of the FEAT reply, passed on unless the site policy drops the feature. */
export function passFeatureLine(line: Buffer, scope: SessionScope): void {
  if (!dropsFeatureLine(scope.site, line)) scope.send(line);
}

/** LPSV/LPRT (RFC 1639): no client needs them, and their addresses would need their own rewriting. */
export const handleLongAddressCommand: CommandHandler = (command, scope) => {
  scope.refuse('not_supported', { verb: command.verb });
  scope.answerLocally(`502 ${command.verb} is not implemented; use EPSV or PASV.\r\n`);
};
