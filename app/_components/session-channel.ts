'use client';
/**
 * Tabs of one browser share a session cookie: when one signs out, the others must stop editing at
 * once (not when their collab token runs out). A BroadcastChannel carries the news between tabs;
 * collab-server also closes the user's sockets (users.tokens_not_before) for other devices.
 */
const CHANNEL = 'tandem-session';

/** The reason an editor shows when another tab signed this user out. */
export const SIGNED_OUT_REASON = 'you signed out';

interface SignedOut {
  type: 'signed-out';
  userId: string;
}

/** Tell this browser's other tabs that `userId` signed out. */
export function announceSignOut(userId: string): void {
  if (typeof BroadcastChannel === 'undefined') return;
  const ch = new BroadcastChannel(CHANNEL);
  ch.postMessage({ type: 'signed-out', userId } satisfies SignedOut);
  ch.close();
}

/** Call `fn` when another tab signs `userId` out; returns the unsubscribe function. */
export function onSignOut(userId: string, fn: () => void): () => void {
  if (typeof BroadcastChannel === 'undefined') return () => undefined;
  const ch = new BroadcastChannel(CHANNEL);
  ch.onmessage = (e: MessageEvent<SignedOut>) => {
    if (e.data?.type === 'signed-out' && e.data.userId === userId) fn();
  };
  return () => ch.close();
}
