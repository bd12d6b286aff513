/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  // Native and server-only packages stay out of the bundle (better-sqlite3 is a native addon).
  serverExternalPackages: ['better-sqlite3', 'pino', 'pino-loki', 'prom-client'],
  poweredByHeader: false,
};

export default nextConfig;
