/**
 * App settings for test harnesses that sign many users up by REST (or in Chromium) from one address
 * and share documents with them at once: no email verification, no per-address or global sign-in
 * limits, a long password-hash line, and a known first-admin setup token. The tests of verification
 * and limits themselves override these.
 */
export const TEST_SETUP_TOKEN = 'test-setup-token-0123456789';

export const HARNESS_APP_ENV: Record<string, string> = {
  EMAIL_VERIFICATION: 'off',
  AUTH_RATE_PER_ADDRESS: '0',
  AUTH_RATE_GLOBAL: '0',
  AUTH_HASH_PER_ADDRESS: '0',
  AUTH_HASH_QUEUE: '100000',
  SETUP_TOKEN: TEST_SETUP_TOKEN,
};
