/**
 * The probe's report: a short table of what was seen, the verdict, and the command line to run.
 * Pure: a ProbeRun and its Diagnosis in, text out.
 */
import type { DataAttempt, ProbeObservations, ProbeRun } from './observations.js';
import { type Diagnosis, describeAddress, describeRange } from './diagnose.js';
import { isSameHost } from '../protocol/address-policy.js';

const LABEL_WIDTH = 22;
/** Prose lines are wrapped to this width; table values and command lines are not. */
const WIDTH = 100;

/** Word-wraps `text` to WIDTH: the first line starts with `first`, the others with `rest`. */
export function wrap(text: string, first: string, rest: string): string {
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const word of text.split(' ')) {
    if (!empty && line.length + 1 + word.length > WIDTH) {
      lines.push(line);
      line = rest;
      empty = true;
    }
    line += empty ? word : ` ${word}`;
    empty = false;
  }
  lines.push(line);
  return lines.join('\n');
}

function row(label: string, value: string): string {
  const [first = '', ...rest] = value.split('\n');
  const pad = ' '.repeat(2 + LABEL_WIDTH);
  return [`  ${label.padEnd(LABEL_WIDTH)}${first}`, ...rest.map((line) => `${pad}${line}`)].join('\n');
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export function formatAttempt(attempt: DataAttempt): string {
  switch (attempt.outcome) {
    case 'ok':
      return `${hostPort(attempt.target.host, attempt.target.port)}  ok (LIST: ${attempt.reply}, ${attempt.bytes} bytes)`;
    case 'connect-failed':
      return `${hostPort(attempt.target.host, attempt.target.port)}  FAILED: ${attempt.error}`;
    case 'transfer-failed':
      return `${hostPort(attempt.target.host, attempt.target.port)}  connected, LIST failed: ${attempt.reply}`;
    case 'not-tried':
      return attempt.target === undefined
        ? `not tried: ${attempt.why}`
        : `${hostPort(attempt.target.host, attempt.target.port)}  not tried: ${attempt.why}`;
  }
}

/** The feature names of a FEAT reply, or the reply itself when FEAT is refused. */
export function formatFeat(feat: ProbeObservations['feat']): string {
  if (feat.code !== 211) return `${feat.lines.at(-1) ?? feat.code} (no FEAT)`;
  const features = feat.lines.filter((line) => line.startsWith(' ')).map((line) => line.trim());
  if (features.length === 0) return '(none listed)';
  // Long MLST facts lists would stretch the table: one row per few features instead.
  const rows: string[] = [];
  let current = '';
  for (const feature of features) {
    if (current !== '' && current.length + 2 + feature.length > WIDTH - 2 - LABEL_WIDTH) {
      rows.push(`${current},`);
      current = feature;
    } else {
      current = current === '' ? feature : `${current}, ${feature}`;
    }
  }
  rows.push(current);
  return rows.join('\n');
}

function observationRows(observations: ProbeObservations): string[] {
  const { subject, pasv } = observations;
  const rows = [
    row('control connection', `${hostPort(subject.host, subject.port)} = ${observations.controlAddress} (from ${observations.localAddress})`),
    row('greeting', observations.greeting.join('\n')),
    row('login', observations.login),
    row('FEAT', formatFeat(observations.feat)),
  ];
  switch (pasv.outcome) {
    case 'ok': {
      const advertised = describeAddress(pasv.advertised.host);
      const same = isSameHost(advertised.address, observations.controlAddress);
      rows.push(row('PASV', pasv.reply));
      rows.push(
        row(
          '227 address',
          `${advertised.address} (${describeRange(advertised)}); ${same ? 'the control address' : `NOT the control address ${observations.controlAddress}`}`,
        ),
      );
      rows.push(row('data to 227 address', formatAttempt(observations.dataToAdvertised)));
      rows.push(row('data to control addr', same ? 'same address as above' : formatAttempt(observations.dataToControl)));
      break;
    }
    case 'refused':
      rows.push(row('PASV', `${pasv.reply} (refused)`));
      break;
    case 'unreadable':
      rows.push(row('PASV', `${pasv.reply} (unreadable: ${pasv.reason})`));
      break;
  }
  const { epsv } = observations;
  switch (epsv.outcome) {
    case 'ok':
      rows.push(row('EPSV', `${epsv.reply}\n${formatAttempt(observations.epsvData)}`));
      break;
    case 'refused':
      rows.push(row('EPSV', `${epsv.reply} (refused)`));
      break;
    case 'unreadable':
      rows.push(row('EPSV', `${epsv.reply} (unreadable: ${epsv.reason})`));
      break;
  }
  return rows;
}

export function formatProbeReport(run: ProbeRun, diagnosis: Diagnosis, url: string): string {
  const lines = [`ftpmasq probe ${url}`, ''];
  if (run.complete) {
    lines.push(...observationRows(run.observations));
  } else {
    if (run.controlAddress !== undefined) lines.push(row('control connection', run.controlAddress));
    if (run.greeting !== undefined) lines.push(row('greeting', run.greeting.join('\n')));
    lines.push(row(`failed at ${run.stage}`, run.error));
  }
  lines.push('');
  const verdict = { fine: 'FINE', 'needs-ftpmasq': 'NEEDS FTPMASQ', inconclusive: 'INCONCLUSIVE' }[diagnosis.verdict];
  lines.push(`verdict: ${verdict}: ${diagnosis.headline.replace(/^(fine|needs ftpmasq): /, '')}`);
  for (const reason of diagnosis.reasons) lines.push(wrap(reason, '  - ', '    '));
  for (const note of diagnosis.notes) lines.push(wrap(note, '  note: ', '        '));
  const recommendation = diagnosis.recommendation;
  if (recommendation !== undefined) {
    lines.push('', 'recommended:', `  ${recommendation.primary.argv.join(' ')}`);
    lines.push(wrap(`${recommendation.primary.why}.`, '  ', '  '));
    lines.push(wrap(`${recommendation.placement}.`, '  ', '  '));
    if (recommendation.alternative !== undefined) {
      lines.push('', 'or:', `  ${recommendation.alternative.argv.join(' ')}`);
      lines.push(wrap(`${recommendation.alternative.why}.`, '  ', '  '));
    }
    if (recommendation.serverFix !== undefined) {
      lines.push('', 'or fix the server itself:', wrap(recommendation.serverFix, '  ', '  '));
    }
  }
  return `${lines.join('\n')}\n`;
}
