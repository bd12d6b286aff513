/**
 * The service worker script at /sw.js (scope /). Page loads: network first, the cached copy when
 * offline. Hashed build assets: cache first. Everything else (API, RSC fetches, sockets) goes
 * straight to the network. Cache names match app/_components/editor/offline.ts.
 */
const script = `
const PAGE_CACHE = 'tandem-pages-v1';
const STATIC_CACHE = 'tandem-static-v1';
self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (e) => e.waitUntil(self.clients.claim()));
self.addEventListener('fetch', (e) => {
  const req = e.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  // Documents and the document list (it shows the copies kept on this device when offline).
  if (req.mode === 'navigate' && (url.pathname === '/' || url.pathname.startsWith('/d/'))) {
    e.respondWith((async () => {
      const cache = await caches.open(PAGE_CACHE);
      try {
        const res = await fetch(req);
        if (res.ok) await cache.put(url.pathname, res.clone());
        return res;
      } catch (err) {
        const hit = await cache.match(url.pathname);
        if (hit) return hit;
        throw err;
      }
    })());
  } else if (url.pathname.startsWith('/_next/static/') || url.pathname === '/icon.svg') {
    e.respondWith((async () => {
      const cache = await caches.open(STATIC_CACHE);
      const hit = await cache.match(req);
      if (hit) return hit;
      const res = await fetch(req);
      if (res.ok) await cache.put(req, res.clone());
      return res;
    })());
  }
});
`;

export const dynamic = 'force-static';

export function GET(): Response {
  return new Response(script, {
    headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'no-cache', 'service-worker-allowed': '/' },
  });
}
