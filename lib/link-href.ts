/**
 * What a person types into a link field, turned into an address a browser can open: a bare host
 * (`example.org/page`) gets `https://` (stored as is it would be a broken relative link), an email
 * address becomes `mailto:`, and schemes that run code (`javascript:`, `data:`) are refused.
 */
const SAFE_SCHEMES = new Set(['http', 'https', 'mailto', 'tel', 'ftp']);

/** The href to store for `input`, or null when it is not an address (the caller shows why). */
export function normalizeHref(input: string): string | null {
  const v = input.trim();
  if (!v || /\s/.test(v)) return null;
  // Protocol-relative (//host/…): the editor is served over https in production.
  if (v.startsWith('//')) return /^\/\/[^/\s]+\.[^/\s]+/.test(v) || /^\/\/localhost\b/i.test(v) ? `https:${v}` : null;
  // Paths and fragments inside Tandem itself.
  if (v.startsWith('/') || v.startsWith('#')) return v;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(v);
  // "localhost:3000/x" and "example.org:8080" look like a scheme but are a host and port.
  if (scheme && !/^[^/:]+:\d+(?:[/?#]|$)/.test(v)) return SAFE_SCHEMES.has(scheme[1]!.toLowerCase()) && v.length > scheme[0].length ? v : null;
  if (/^[^@\s/:]+@[^@\s/]+\.[a-z]{2,}$/i.test(v)) return `mailto:${v}`;
  const host = v.split(/[/?#]/, 1)[0]!.replace(/:\d+$/, '');
  if (/^localhost$/i.test(host) || /^(\d{1,3}\.){3}\d{1,3}$/.test(host) || /^([a-z0-9-]+\.)+[a-z][a-z0-9-]*$/i.test(host)) return `https://${v}`;
  return null;
}
