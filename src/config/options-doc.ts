import { OPTION_SPECS } from './option-specs.js';

/** The README's flag table, rendered from the option specs so the two cannot drift. */
export function renderFlagsTable(): string {
  const rows = OPTION_SPECS.map((spec) => {
    const flag = `\`${spec.flag} ${spec.valueName}\`${spec.repeatable === true ? ' (repeatable)' : ''}`;
    const key = `\`${spec.key}\` (${spec.scope === 'process' ? 'process' : 'per site'})`;
    const defaultText = spec.defaultValue === undefined ? '' : `\`${spec.defaultValue}\``;
    return `| ${flag.replaceAll('|', '\\|')} | ${key} | ${defaultText} | ${spec.description.replaceAll('|', '\\|')} |`;
  });
  return ['| Flag | Config key | Default | Meaning |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
