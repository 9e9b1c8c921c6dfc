import { OPTION_SPECS } from './schema.js';

/** The README's flag table, rendered from the option schema so the two cannot drift. */
export function renderFlagsTable(): string {
  const rows = OPTION_SPECS.map((spec) => {
    const flag = `\`${spec.flag} ${spec.valueName}\`${spec.repeatable === true ? ' (repeatable)' : ''}`;
    const defaultText = spec.defaultValue === undefined ? '' : `\`${spec.defaultValue}\``;
    return `| ${flag.replaceAll('|', '\\|')} | ${defaultText} | ${spec.description.replaceAll('|', '\\|')} |`;
  });
  return ['| Flag | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}
