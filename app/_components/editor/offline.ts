'use client';
/**
 * Offline support for an open document: a service worker (served by app/sw.js/route.ts) answers
 * page loads from its cache when the network is gone, and this page puts itself and the scripts it
 * loaded into that cache, so a reload while offline still opens the editor with the edits that
 * y-indexeddb kept on this device.
 */
export const PAGE_CACHE = 'tandem-pages-v1';
export const STATIC_CACHE = 'tandem-static-v1';

/** Register the service worker and cache this page plus the scripts and styles it loaded. */
/** Resolves true when this page can be reloaded without a network. */
export async function cacheForOffline(): Promise<boolean> {
  if (process.env.NODE_ENV !== 'production') return false; // dev server chunks change on every edit
  if (!('serviceWorker' in navigator) || !('caches' in window)) return false;
  try {
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    const pages = await caches.open(PAGE_CACHE);
    await pages.add(new Request(location.pathname, { credentials: 'same-origin' }));
    const assets = performance
      .getEntriesByType('resource')
      .map((e) => e.name)
      .filter((u) => {
        const url = new URL(u);
        return url.origin === location.origin && (url.pathname.startsWith('/_next/static/') || url.pathname === '/icon.svg');
      });
    const statics = await caches.open(STATIC_CACHE);
    await Promise.all(
      assets.map(async (u) => {
        if (!(await statics.match(u))) await statics.add(u);
      }),
    );
    await navigator.serviceWorker.ready;
    return true;
  } catch (err) {
    console.warn('offline cache unavailable', err);
    return false;
  }
}
