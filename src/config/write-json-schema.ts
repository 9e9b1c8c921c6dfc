/** `npm run schema`: writes config/ftpmasq.schema.json from the zod document schema. */
import { writeFileSync } from 'node:fs';
import { renderJsonSchema } from './json-schema.js';

const target = new URL('../../config/ftpmasq.schema.json', import.meta.url);
writeFileSync(target, renderJsonSchema());
process.stdout.write(`wrote ${target.pathname}\n`);
