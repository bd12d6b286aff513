/**
 * The app's configuration: one zod schema over the environment, parsed once, on first use (not at
 * import time, so tests and `next build` can import route modules without a configured env).
 */
import { z } from 'zod';

/** Unset and empty variables both mean "use the default" (compose files often pass VAR=). */
const opt = <T extends z.ZodTypeAny>(s: T) => z.preprocess((v) => (v === '' ? undefined : v), s);
const int = (def: number, min: number, max: number) => opt(z.coerce.number().int().min(min).max(max).default(def));

export const AppConfigSchema = z.object({
  /** Directory for tandem.db and the generated token keys (shared with collab-server). */
  DATA_DIR: opt(z.string().default('./data')),
  /** PEM (PKCS#8 Ed25519) private key for collab tokens; default: generated into <DATA_DIR>/keys. */
  COLLAB_TOKEN_PRIVATE_KEY: opt(z.string().optional()),
  /** Collab token lifetime; short because a token is re-minted (or refreshed in band) cheaply. */
  COLLAB_TOKEN_TTL_SECONDS: int(300, 10, 86_400),
  /** WebSocket base URL clients are told to use; default ws://<request hostname>:<COLLAB_PORT>. */
  COLLAB_PUBLIC_URL: opt(
    z
      .string()
      .url()
      .refine((u) => /^wss?:\/\//.test(u), 'must be a ws:// or wss:// URL')
      .optional(),
  ),
  COLLAB_PORT: int(1234, 1, 65_535),
  /** How long a sign-in lasts. */
  SESSION_TTL_SECONDS: int(30 * 24 * 3600, 60, 365 * 24 * 3600),
  /** log2 of scrypt's cost N: 15 is ~32 MiB and ~100 ms per hash here. Stored per hash, so it can be raised later. */
  PASSWORD_SCRYPT_LOG2N: int(15, 14, 20),
  /** Wrong passwords allowed per email within LOGIN_WINDOW_SECONDS before logins for it get 429. */
  LOGIN_MAX_FAILURES: int(10, 1, 10_000),
  LOGIN_WINDOW_SECONDS: int(900, 1, 86_400),
  /** Secure cookies: auto = when the request arrived over https (or X-Forwarded-Proto says so). */
  COOKIE_SECURE: opt(z.enum(['auto', 'true', 'false']).default('auto')),
  SQLITE_SYNCHRONOUS: opt(z.enum(['NORMAL', 'FULL']).default('NORMAL')),
  LOG_LEVEL: opt(z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info')),
});

export type AppConfig = z.infer<typeof AppConfigSchema>;

/** Parse `env` into a config, naming the variable at fault on error. */
export function parseAppConfig(env: Record<string, string | undefined>): AppConfig {
  const r = AppConfigSchema.safeParse(env);
  if (!r.success) {
    throw new Error(`invalid configuration: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}
