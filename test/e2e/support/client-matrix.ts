/**
 * The client matrix: each client lists the root, downloads the three fixtures and uploads 5 MiB, and
 * every transfer is checked by size and SHA-256 on both ends. Registers vitest tests; call it inside a
 * test file after the file's beforeAll has set up the path to the server.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ClientKind, type FtpEndpoint, createClient, describeRun } from '../../helpers/clients.js';
import { JAPANESE_FILE, LARGE_FILE, SAMPLE_FILE, figuresOf } from '../../helpers/proftpd.js';
import type { RunResult } from '../../helpers/topology.js';
import type { E2eEnvironment } from './environment.js';

export interface MatrixContext {
  readonly env: E2eEnvironment;
  /** The address and port the clients dial for control. */
  readonly endpoint: FtpEndpoint;
  /** Extra evidence for a failure message (e.g. ftpmasq's log). */
  diagnostics(): string;
  /**
   * The address that the clients which send PASV must see inside the 227 reply (comma form, e.g.
   * `203,0,113,10`): proof that the reply was rewritten, not merely that the transfer worked.
   */
  readonly expectedPasvAddress?: string;
}

const PASV_CLIENTS: ReadonlySet<ClientKind> = new Set(['curl-legacy', 'python-ftplib', 'lftp']);

function expectPasvAddress(kind: ClientKind, run: RunResult, context: MatrixContext): void {
  const expected = context.expectedPasvAddress;
  if (expected === undefined || !PASV_CLIENTS.has(kind)) return;
  // curl --verbose, ftplib's debug trace and lftp's `debug` all print the reply line on stderr.
  const replies = run.stderr.match(/227 Entering Passive Mode \([\d,]+\)/g) ?? [];
  expect(replies.length, failureMessage('no 227 reply in the client trace', run, context)).toBeGreaterThan(0);
  for (const reply of replies) expect(reply).toContain(`(${expected},`);
  if (kind === 'lftp') expectLftpDialledPasvAddress(run, expected.replaceAll(',', '.'), context);
}

/**
 * lftp names every data connection it opens: each must go to the address of the 227, and lftp must not
 * have sent EPSV or fallen back to PORT/EPRT, or the transfer proves nothing about PASV.
 */
function expectLftpDialledPasvAddress(run: RunResult, expected: string, context: MatrixContext): void {
  const targets = [...run.stderr.matchAll(/Connecting data socket to \(([^)]+)\) port \d+/g)].map((match) => match[1]);
  expect(targets.length, failureMessage('no data connection in the lftp trace', run, context)).toBeGreaterThan(0);
  for (const target of targets) expect(target, failureMessage('lftp dialled another address', run, context)).toBe(expected);
  expect(run.stderr, failureMessage('lftp left PASV', run, context)).not.toMatch(/^---> (EPSV|PORT|EPRT)\b/m);
}

export interface Figures {
  readonly mode: string;
  readonly client: ClientKind;
  readonly direction: 'download' | 'upload';
  readonly file: string;
  readonly size: number;
  readonly sha256: string;
  readonly ms: number;
}

export function printFigures(figures: Figures): void {
  console.log(
    `[e2e figures] mode=${figures.mode} client=${figures.client} ${figures.direction} file=${figures.file} ` +
      `size=${figures.size} sha256=${figures.sha256} (equal on both ends) ${figures.ms} ms`,
  );
}

function failureMessage(what: string, run: RunResult, context: MatrixContext): string {
  const extra = context.diagnostics();
  return `${what}\n${describeRun(run)}${extra === '' ? '' : `\n${extra}`}`;
}

export function describeClientMatrix(mode: string, kinds: readonly ClientKind[], getContext: () => MatrixContext): void {
  const collected: Figures[] = [];
  afterAll(() => {
    if (collected.length > 0) console.table(collected.map(({ sha256, ...rest }) => ({ ...rest, sha256: sha256.slice(0, 16) })));
  });

  describe.each(kinds)(`${mode}: %s`, (kind) => {
    const clientFor = (context: MatrixContext) =>
      createClient(kind, {
        tools: context.env.tools,
        topology: context.env.topology,
        host: context.env.topology.client,
        endpoint: context.endpoint,
      });

    it('lists the root directory with the fixture names, the UTF-8 one included', async () => {
      const context = getContext();
      const { run, listing } = await clientFor(context).list();
      expect(run.code, failureMessage('LIST failed', run, context)).toBe(0);
      expect(listing).toContain(SAMPLE_FILE);
      expect(listing).toContain(JAPANESE_FILE);
      expect(listing).toContain(LARGE_FILE);
    });

    it.each([SAMPLE_FILE, JAPANESE_FILE, LARGE_FILE])('downloads %s intact', async (file) => {
      const context = getContext();
      const expected = context.env.proftpd.fixtures.get(file);
      if (expected === undefined) throw new Error(`no fixture ${file}`);
      const localPath = join(context.env.clientDir, `${mode}-${kind}-${Buffer.from(file).toString('hex').slice(0, 24)}`);
      const run = await clientFor(context).download(file, localPath);
      expect(run.code, failureMessage(`RETR ${file} failed`, run, context)).toBe(0);
      expectPasvAddress(kind, run, context);
      const received = await figuresOf(localPath, file);
      expect(received, `client-side figures of ${file}`).toEqual(expected);
      const figures: Figures = { mode, client: kind, direction: 'download', file, size: received.size, sha256: received.sha256, ms: run.durationMs };
      collected.push(figures);
      printFigures(figures);
    });

    it('uploads 5 MiB intact', async () => {
      const context = getContext();
      const remoteName = `upload-${mode}-${kind}.bin`;
      const { upload } = context.env;
      const run = await clientFor(context).upload(upload.path, remoteName);
      expect(run.code, failureMessage(`STOR ${remoteName} failed`, run, context)).toBe(0);
      expectPasvAddress(kind, run, context);
      const stored = await figuresOf(join(context.env.proftpd.root, remoteName), remoteName);
      expect({ size: stored.size, sha256: stored.sha256 }, `server-side figures of ${remoteName}`).toEqual({
        size: upload.size,
        sha256: upload.sha256,
      });
      const figures: Figures = { mode, client: kind, direction: 'upload', file: remoteName, size: stored.size, sha256: stored.sha256, ms: run.durationMs };
      collected.push(figures);
      printFigures(figures);
    });
  });
}
