/** Document and user ids: URL-safe, bounded, so they can go in paths, keys and SQL safely. */
import { z } from 'zod';

export const DOC_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
export const DocIdSchema = z.string().regex(DOC_ID_RE, 'must be 1-64 characters of A-Z a-z 0-9 _ -');

export function isDocId(s: string): boolean {
  return DOC_ID_RE.test(s);
}

/** A new random id (128 bits, base64url); Web Crypto so it works in the browser and Node alike. */
export function newId(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
