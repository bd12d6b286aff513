/**
 * Password hashing with scrypt (node:crypto). The cost parameters are stored in each hash, so the
 * default can be raised without invalidating existing accounts. Comparison is constant-time.
 */
import crypto from 'node:crypto';

const KEYLEN = 32;
const SALT_BYTES = 16;

function derive(password: string, salt: Buffer, n: number, r: number, p: number, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem must exceed 128·N·r, or node refuses N ≥ 2^15 with its 32 MiB default.
    crypto.scrypt(password.normalize('NFKC'), salt, keylen, { N: n, r, p, maxmem: 256 * n * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Hash a password as `scrypt$N$r$p$<salt b64url>$<key b64url>`. */
export async function hashPassword(password: string, log2n: number): Promise<string> {
  const n = 2 ** log2n;
  const salt = crypto.randomBytes(SALT_BYTES);
  const key = await derive(password, salt, n, 8, 1, KEYLEN);
  return `scrypt$${n}$8$1$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** True when `password` matches `stored`. Never throws on a malformed hash (it just does not match). */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [n, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  // Bounds keep a corrupted row from asking scrypt for gigabytes.
  if (![n, r, p].every(Number.isSafeInteger) || n < 2 || n > 2 ** 20 || (n & (n - 1)) !== 0 || r < 1 || r > 32 || p < 1 || p > 16) return false;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const expected = Buffer.from(parts[5]!, 'base64url');
  if (salt.length === 0 || expected.length === 0) return false;
  const actual = await derive(password, salt, n, r, p, expected.length);
  // A byte-by-byte `===` would leak how long the matching prefix is through timing.
  return crypto.timingSafeEqual(actual, expected);
}
