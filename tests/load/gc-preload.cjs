// Loaded with `--expose-gc --require` into every benchmarked server, the same way for all of them:
// SIGUSR2 runs a full GC so idle-socket RSS is measured on a collected heap, not on garbage.
process.on('SIGUSR2', () => {
  if (typeof global.gc === 'function') global.gc();
});
