import { lineEnding } from '../../protocol/line-reader.js';
import { advertisedFeatures, dropsFeatureLine } from '../../site/site-policy.js';
import type { CommandHandler, SessionScope } from './scope.js';

/** FEAT goes upstream; its reply lines pass through `passFeatureLine`. */
export const handleFeat: CommandHandler = (command, scope) => {
  scope.forward(command.forward, { kind: 'feat' });
};

/** A line of the FEAT reply, passed on unless the site policy drops the feature. */
export function passFeatureLine(line: Buffer, scope: SessionScope): void {
  if (!dropsFeatureLine(scope.site, line)) scope.send(line);
}

/**
 * The last line of the FEAT reply: the site's own features (FTPS) go before it. A single-line
 * `211` becomes a multi-line reply so they can be listed (RFC 2389 section 3.2).
 */
export function finishFeatureReply(line: Buffer, code: number, singleLine: boolean, scope: SessionScope): void {
  const features = advertisedFeatures(scope.site);
  if (code !== 211 || features.length === 0) {
    scope.finish(line);
    return;
  }
  const eol = lineEnding(line) || '\r\n';
  if (singleLine) scope.send(Buffer.from(`211-${line.toString('latin1').slice(4).trimEnd()}${eol}`, 'latin1'));
  for (const feature of features) scope.send(Buffer.from(` ${feature}${eol}`, 'latin1'));
  scope.finish(singleLine ? `211 End${eol}` : line);
}

/** LPSV/LPRT (RFC 1639): no client needs them, and their addresses would need their own rewriting. */
export const handleLongAddressCommand: CommandHandler = (command, scope) => {
  scope.refuse('not_supported', { verb: command.verb });
  scope.answerLocally(`502 ${command.verb} is not implemented; use EPSV or PASV.\r\n`);
};
