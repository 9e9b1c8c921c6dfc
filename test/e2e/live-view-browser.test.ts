/**
 * The live page in a real headless browser (issue 13, item 6): Debian's chromium, driven by
 * playwright-core over its pipe, opens http://127.0.0.1:<metrics port>/ while a paced download
 * runs through ftpmasq. The page must show the session's row with the user (as text: the markup
 * in the name stays text), the RETR, and a byte count that grows between two reads; the policy
 * must block nothing the page needs; after the end the row goes. Everything is on loopback.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { LIVE_FILE, LIVE_PASSWORD, LIVE_USER_TEXT, startPacedDownload } from '../helpers/live-transfer.js';
import { createProxyHarness } from '../helpers/proxy-harness.js';
import { sha256 } from '../helpers/raw-ftp-client.js';

const CHROMIUM = '/usr/bin/chromium';
/** No update checks, sync, QUIC or other traffic of the browser's own: it talks to 127.0.0.1 only. */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const MIB = 1024 * 1024;

const harness = createProxyHarness({ passivePorts: '29450-29459' });

function requireChromium(): string {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: the live view's browser test needs it (apt-get install chromium)`);
  return CHROMIUM;
}

/** The text of one cell of the session's row. */
function cell(page: Page, id: string, column: string): Promise<string> {
  return page.locator(`#rows tr[data-session="${id}"] td[data-col="${column}"]`).innerText({ timeout: 10_000 });
}

function digits(text: string): number {
  return Number(text.replace(/[^0-9]/g, ''));
}

describe('the live page in headless chromium', () => {
  let context: BrowserContext | undefined;
  let profile: string | undefined;
  afterEach(async () => {
    await context?.close();
    if (profile !== undefined) await rm(profile, { recursive: true, force: true });
    context = undefined;
    profile = undefined;
  });

  it('shows the running transfer with the user and a growing byte count, then drops the row', async () => {
    const executablePath = requireChromium();
    const download = await startPacedDownload(harness);
    await download.step(MIB);

    profile = await mkdtemp(join(tmpdir(), 'ftpmasq-live-view-'));
    context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: CHROMIUM_FLAGS });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    const origin = `http://${download.http.host}:${download.http.port}`;
    await page.goto(`${origin}/`);

    const row = page.locator('#rows tr[data-session]');
    await row.first().waitFor({ timeout: 10_000 });
    expect(await row.count()).toBe(1);
    const id = (await row.first().getAttribute('data-session')) ?? '';
    expect(await cell(page, id, 'user')).toBe(LIVE_USER_TEXT);
    // The `<i>` of the name is text, not an element.
    expect(await page.locator('#rows i').count()).toBe(0);
    expect(await cell(page, id, 'state')).toBe('transfer');
    expect(await cell(page, id, 'command')).toBe(`RETR ${LIVE_FILE}`);
    expect(await cell(page, id, 'client')).toMatch(/^127\.0\.0\.1:\d+$/);

    const firstRead = digits(await cell(page, id, 'bytes'));
    expect(firstRead).toBeGreaterThanOrEqual(MIB);
    await download.step(4 * MIB);
    // The page refreshes itself: the count grows without a reload (the relay refills the socket
    // buffers the client's read drained), to at least what the client has read.
    const readByClient = download.data.bytesReceived;
    await expect
      .poll(async () => digits(await cell(page, id, 'bytes')), { timeout: 10_000, interval: 100 })
      .toBeGreaterThanOrEqual(Math.max(readByClient, firstRead + 1));
    expect(digits(await cell(page, id, 'bytes'))).toBeGreaterThan(firstRead);
    expect(await page.content()).not.toContain(LIVE_PASSWORD);

    const received = await download.finish();
    expect(sha256(received)).toBe(sha256(download.payload));
    await download.client.command('QUIT');
    await page.locator(`#rows tr[data-session="${id}"]`).waitFor({ state: 'detached', timeout: 10_000 });
    expect(await page.locator('#status').innerText()).toMatch(/^0 sessions at /);
    // Nothing the page needs was blocked by its own policy, and its script never failed.
    expect(problems).toEqual([]);
  });
});
