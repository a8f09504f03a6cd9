import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { configJsonSchema } from './json-schema.ts';

const out = resolve(import.meta.dirname, '../../config/furrow.schema.json');
writeFileSync(out, configJsonSchema());
console.log(`wrote ${out}`);
