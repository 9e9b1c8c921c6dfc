/**
 * Open file descriptors of this process (Linux /proc), for leak tests: after many sessions the
 * count must return to where it started. Vitest's default `forks` pool gives each test file a
 * process of its own, so the count is not disturbed by other files.
 */
import fs from 'node:fs';
import { delay } from './raw-ftp-client.js';

export function openFdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

/** What each open descriptor points at (socket:[inode], pipe:[...], a path), for a failure message. */
export function describeOpenFds(): string[] {
  const described: string[] = [];
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      described.push(`${fd} -> ${fs.readlinkSync(`/proc/self/fd/${fd}`)}`);
    } catch {
      // Closed between readdir and readlink (the readdir's own descriptor, for one).
    }
  }
  return described;
}

/**
 * Waits, at most `timeoutMs`, for the count to fall to `target` or below; returns the last count
 * seen, so the caller's assertion shows it.
 */
export async function settleFdCount(target: number, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let count = openFdCount();
  while (count > target && Date.now() < deadline) {
    await delay(20);
    count = openFdCount();
  }
  return count;
}
