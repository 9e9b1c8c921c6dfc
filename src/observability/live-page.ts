/**
 * The live view's page (`GET /`): one self-contained HTML document that fetches `/sessions`
 * every second and shows the table. No external asset; the Content-Security-Policy allows only
 * this page's own script and style (by hash) and requests to its own origin. Everything it shows
 * goes in through `textContent`, never as markup, so a user or file name cannot inject any.
 */
import { createHash } from 'node:crypto';

/** How often the page asks for /sessions. */
export const LIVE_PAGE_REFRESH_MS = 1000;

const STYLE = `
body { font: 14px system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
h1 { font-size: 1.2em; margin: 0 0 .3em; }
#status { color: #555; margin-bottom: .8em; }
#status.failed { color: #b00020; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #ddd; white-space: nowrap; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
td.text { white-space: normal; word-break: break-all; max-width: 30em; }
tr.transfer td { background: #eef6ff; }
`;

const SCRIPT = `
'use strict';
const rows = document.getElementById('rows');
const status = document.getElementById('status');
const COLUMNS = ['id', 'site', 'client', 'user', 'state', 'command', 'bytes', 'rate', 'started', 'duration'];
function cell(column, text, kind) {
  const td = document.createElement('td');
  td.dataset.col = column;
  if (kind) td.className = kind;
  td.textContent = text;
  return td;
}
function unit(value, units) {
  let index = 0;
  while (value >= 1024 && index < units.length - 1) { value /= 1024; index += 1; }
  return (index === 0 ? String(value) : value.toFixed(1)) + ' ' + units[index];
}
function duration(seconds) {
  const h = Math.floor(seconds / 3600), m = Math.floor(seconds / 60) % 60, s = seconds % 60;
  return (h > 0 ? h + 'h ' : '') + (h > 0 || m > 0 ? m + 'm ' : '') + s + 's';
}
function row(session) {
  const tr = document.createElement('tr');
  tr.dataset.session = session.id;
  if (session.state === 'transfer') tr.className = 'transfer';
  const command = session.transfer === null ? '' : session.transfer.verb + ' ' + session.transfer.argument;
  const data = session.data;
  tr.append(
    cell('id', session.id),
    cell('site', session.site),
    cell('client', session.client),
    cell('user', session.user === null ? '' : session.user, 'text'),
    cell('state', session.state),
    cell('command', command, 'text'),
    cell('bytes', data === null ? '' : data.bytes.toLocaleString('en-US'), 'number'),
    cell('rate', data === null ? '' : unit(data.bytesPerSecond, ['B/s', 'KiB/s', 'MiB/s', 'GiB/s']), 'number'),
    cell('started', session.startedAt.replace('T', ' ').replace(/\\.\\d+Z$/, 'Z')),
    cell('duration', duration(session.seconds), 'number'),
  );
  return tr;
}
async function refresh() {
  try {
    const response = await fetch('sessions', { cache: 'no-store' });
    if (!response.ok) throw new Error('HTTP ' + response.status);
    const view = await response.json();
    rows.replaceChildren(...view.sessions.map(row));
    const omitted = view.omitted > 0 ? ' (' + view.omitted + ' more not listed)' : '';
    const unanswered = Array.isArray(view.unanswered) && view.unanswered.length > 0 ? '; no answer from ' + view.unanswered.join(', ') : '';
    status.textContent = view.total + ' session' + (view.total === 1 ? '' : 's') + omitted + ' at ' + view.generatedAt + unanswered;
    status.className = '';
  } catch (error) {
    status.textContent = 'update failed: ' + (error instanceof Error ? error.message : String(error));
    status.className = 'failed';
  } finally {
    setTimeout(refresh, ${LIVE_PAGE_REFRESH_MS});
  }
}
const header = document.getElementById('header');
header.append(...COLUMNS.map((column) => { const th = document.createElement('th'); th.textContent = column; return th; }));
refresh();
`;

function sourceHash(source: string): string {
  return `'sha256-${createHash('sha256').update(source, 'utf8').digest('base64')}'`;
}

/** Only this page's own script and style run, and it may fetch from its own origin only. */
export const LIVE_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sourceHash(SCRIPT)}`,
  `style-src ${sourceHash(STYLE)}`,
  "connect-src 'self'",
  "img-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>ftpmasq sessions</title>
<style>${STYLE}</style>
</head>
<body>
<h1>ftpmasq sessions</h1>
<div id="status">loading…</div>
<table>
<thead><tr id="header"></tr></thead>
<tbody id="rows"></tbody>
</table>
<script>${SCRIPT}</script>
</body>
</html>
`;

/** The headers of the page: its policy, and no sniffing, caching, framing or referrer. */
export const LIVE_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': LIVE_PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};
