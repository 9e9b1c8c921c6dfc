/**
 * podman as deploy/docker/podman.sh runs it: the project's own storage under .container/ and its
 * containers.conf, never the host's. Every call is bounded in time.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PODMAN_SH = fileURLToPath(new URL('../../deploy/docker/podman.sh', import.meta.url));

export interface PodmanResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `podman ARGS` and resolves with its exit code and output, whatever the code. */
export function podman(args: readonly string[], timeoutMs = 60_000): Promise<PodmanResult> {
  return new Promise((resolve, reject) => {
    execFile(PODMAN_SH, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error !== null && typeof error.code !== 'number') reject(new Error(`podman ${args.join(' ')}: ${error.message}`));
      else resolve({ code: error === null ? 0 : Number(error.code), stdout, stderr });
    });
  });
}

/** `podman ARGS` that must exit 0; its stdout. */
export async function podmanOk(args: readonly string[], timeoutMs = 60_000): Promise<string> {
  const result = await podman(args, timeoutMs);
  if (result.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return result.stdout;
}

/** The image `npm run container:build` makes: localhost/ftpmasq:<package.json version>. */
export function ftpmasqImage(): string {
  const manifest: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const version: unknown = typeof manifest === 'object' && manifest !== null ? Reflect.get(manifest, 'version') : undefined;
  if (typeof version !== 'string') throw new Error('package.json has no version');
  return `localhost/ftpmasq:${version}`;
}
