/**
 * `routes`: user routing, a list of `{ user: REGEX, upstream: HOST:PORT }` per site (config file
 * only). The patterns are compiled and checked here, at load, so a bad one fails the load or the
 * reload with its key path (`sites[0].routes[1].user`), never a session.
 */
import { z } from 'zod';
import { compileUserPattern, MAX_PATTERN_LENGTH, type UserRoute } from '../site/user-routes.js';
import { parseUpstream, parsedScalar, type ValueIssueParams } from './schema-builders.js';

export const ROUTES_FORM = 'a list of { user: REGEX, upstream: HOST:PORT }';
export const ROUTE_KEYS: readonly string[] = ['user', 'upstream'];
export const USER_PATTERN_FORM = `a regular expression of at most ${MAX_PATTERN_LENGTH} characters matched against the whole user name`;

/** The pattern as written and compiled: the source stays for the logs, the effective config and the hash. */
const userPattern = z.string().transform((source, context): { source: string; pattern: RegExp } => {
  const compiled = compileUserPattern(source);
  if (compiled.ok) return { source, pattern: compiled.value };
  const detail = `expected ${USER_PATTERN_FORM}, got ${JSON.stringify(source)}: ${compiled.reason}`;
  const params: ValueIssueParams = { expected: USER_PATTERN_FORM, received: source, detail };
  context.addIssue({ code: 'custom', message: detail, params, input: source });
  return z.NEVER;
});

const routeOption = z
  .strictObject({
    user: userPattern.meta({ description: `the user names this route is for: ${USER_PATTERN_FORM} (JavaScript syntax, case-sensitive)` }),
    upstream: parsedScalar((text) => parseUpstream('upstream', text)).meta({ description: 'the server those logins go to, HOST:PORT' }),
  })
  .transform((route): UserRoute => ({ user: route.user.source, pattern: route.user.pattern, upstream: route.upstream }));

export const ROUTES_SITE_FIELDS = {
  routes: z
    .array(routeOption)
    .prefault([])
    .meta({
      description:
        `user routing: ${ROUTES_FORM}; ftpmasq greets the client itself, reads USER, and connects to the upstream of the first ` +
        'route whose pattern matches the whole name (the site\'s upstream when none does). Default: none (the server greets). Config file only.',
    }),
};
