/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  // Native and server-only packages stay out of the bundle (better-sqlite3 is a native addon).
  serverExternalPackages: ['better-sqlite3', 'pino', 'pino-loki', 'prom-client', 'nodemailer'],
  poweredByHeader: false,
  // Type errors are caught by `npm test` (tests/unit/typecheck.test.ts runs tsc over the whole tree);
  // a type error in a test file must not stop `npm start` from serving the product.
  typescript: { ignoreBuildErrors: true },
  // Tests that build the app in parallel (e2e, the npm-start check) each use their own output dir.
  distDir: process.env.NEXT_DIST_DIR || '.next',
  // No page may be framed by another site (clickjacking: a hidden share dialog under a decoy
  // button); CSP frame-ancestors for current browsers, X-Frame-Options for older ones.
  async headers() {
    return [
      {
        source: '/:path*',
        headers: [
          { key: 'Content-Security-Policy', value: "frame-ancestors 'none'" },
          { key: 'X-Frame-Options', value: 'DENY' },
          { key: 'X-Content-Type-Options', value: 'nosniff' },
          // Verification links carry a token in the query: never send it on to another site.
          { key: 'Referrer-Policy', value: 'same-origin' },
        ],
      },
      {
        // Images in documents (the last matching header wins): opened on their own, nothing in them runs.
        source: '/api/docs/:id/images/:imageId',
        headers: [{ key: 'Content-Security-Policy', value: "default-src 'none'; sandbox; frame-ancestors 'none'" }],
      },
    ];
  },
};

export default nextConfig;
