/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  // Native and server-only packages stay out of the bundle (better-sqlite3 is a native addon).
  serverExternalPackages: ['better-sqlite3', 'pino', 'pino-loki', 'prom-client'],
  poweredByHeader: false,
  // Type errors are caught by `npm test` (tests/unit/typecheck.test.ts runs tsc over the whole tree);
  // a type error in a test file must not stop `npm start` from serving the product.
  typescript: { ignoreBuildErrors: true },
  // Tests that build the app in parallel (e2e, the npm-start check) each use their own output dir.
  distDir: process.env.NEXT_DIST_DIR || '.next',
};

export default nextConfig;
