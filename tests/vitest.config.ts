import { defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export default defineConfig({
  root,
  test: {
    include: ['tests/**/*.test.ts'],
    environment: 'node',
    // Real servers and sockets: generous per-test time, and files in parallel on 2 cores only.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
    reporters: ['default'],
    // Memory-bound tests force a GC before measuring.
    execArgv: ['--expose-gc'],
    // Two files run at once on a shared 2-core machine, with real servers, browsers, PostgreSQL and
    // Redis: a timing-sensitive test can lose a scheduling race once. One retry absorbs that; a
    // behaviour that is broken fails both attempts (and the run) all the same.
    retry: 1,
  },
  resolve: { alias: { '@': root } },
});
