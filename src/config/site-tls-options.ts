/**
 * A site's TLS keys -> its SiteTls: the certificate and key files are read and checked to match
 * while the configuration loads, so a bad file is a config error naming the key.
 */
import type { z } from 'zod';
import { loadTlsMaterial } from '../net/tls-context.js';
import type { ClientTlsMode, DataTlsReuseMode, SiteTls } from './types.js';
import { ConfigError, type Endpoint } from './values.js';

export type IssueSink = Pick<z.core.$RefinementCtx, 'addIssue'>;

/** The TLS keys of a site as the schema parsed them. */
export interface TlsOptionValues {
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly tlsListen?: readonly Endpoint[] | undefined;
  readonly clientTls: ClientTlsMode;
  readonly dataTlsReuse: DataTlsReuseMode;
  readonly allowClearData: boolean;
}

/**
 * The site's TLS settings: the certificate and key are read (and checked to match) here, so a
 * missing file fails the load or the reload with the key's name, never a session.
 */
export function toSiteTls(values: TlsOptionValues, context: IssueSink): SiteTls | undefined | 'invalid' {
  const { tlsCert, tlsKey } = values;
  const issue = (path: string, expected: string, received: string, message: string): 'invalid' => {
    context.addIssue({ code: 'custom', message, path: [path], params: { expected, received }, input: received });
    return 'invalid';
  };
  if (tlsCert === undefined && tlsKey === undefined) {
    if ((values.tlsListen ?? []).length > 0) {
      return issue('tlsListen', 'a certificate (tlsCert and tlsKey) with tlsListen', formatList(values.tlsListen ?? []), 'tlsListen needs tlsCert and tlsKey');
    }
    if (values.clientTls === 'required') {
      return issue('clientTls', 'a certificate (tlsCert and tlsKey) with clientTls required', 'required', 'clientTls: required needs tlsCert and tlsKey');
    }
    return undefined;
  }
  if (tlsCert === undefined) return issue('tlsCert', 'a certificate file beside tlsKey', 'nothing', 'tlsKey needs tlsCert');
  if (tlsKey === undefined) return issue('tlsKey', 'a private key file beside tlsCert', 'nothing', 'tlsCert needs tlsKey');
  try {
    const material = loadTlsMaterial(tlsCert, tlsKey);
    return {
      certFile: tlsCert,
      keyFile: tlsKey,
      ...material,
      clientTls: values.clientTls,
      dataTlsReuse: values.dataTlsReuse,
      allowClearData: values.allowClearData,
      implicitListen: values.tlsListen ?? [],
    };
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return issue(error.field, error.expected, error.received, error.message);
  }
}

function formatList(endpoints: readonly Endpoint[]): string {
  return endpoints.map((endpoint) => `${endpoint.host}:${endpoint.port}`).join(', ');
}
