// The README's configuration tables list every option the code reads, so the docs cannot drift.
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CollabConfigSchema } from '../../lib/config';
import { AppConfigSchema } from '../../app/_server/config';
import { ROOT } from '../helpers/fixture';

const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
const documented = new Set([...readme.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));

describe('README configuration', () => {
  it.each([
    ['collab-server', Object.keys(CollabConfigSchema.shape)],
    ['app', Object.keys(AppConfigSchema.shape)],
  ])('documents every %s option', (_name, keys) => {
    expect(keys.filter((k) => !documented.has(k))).toEqual([]);
  });
});
