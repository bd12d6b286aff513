'use client';
/** The connection status: connected / reconnecting in N s / offline with unsynced changes. */
import { useEffect, useState } from 'react';
import type { CollabStatus } from '@/lib/collab-client';
import type { TransferProgress } from '@/lib/chunk-transport';

const megabytes = (n: number) => `${(n / (1024 * 1024)).toFixed(1)} MB`;

/** "Saving 3.2 MB… 40%" while a large edit goes up, "Receiving …" while one comes down, then "Saved 3.2 MB". */
export function transferText(t: TransferProgress): string {
  const size = megabytes(t.total);
  if (t.done) return t.direction === 'up' ? `Saved ${size}` : `Received ${size}`;
  const pct = Math.min(99, Math.floor((t.bytes / Math.max(1, t.total)) * 100));
  return `${t.direction === 'up' ? 'Saving' : 'Receiving'} ${size}… ${pct}%`;
}

export function statusText(s: CollabStatus, closed: boolean, retryAt: number | null, now: number, loading: false | 'loading' | 'unreachable' = false): { key: string; text: string } {
  if (closed) return { key: 'closed', text: 'Disconnected' };
  if (!s.online) return { key: 'offline', text: s.unsynced ? 'Offline · unsynced changes kept on this device' : 'Offline' };
  // Never synced on this device: nothing is shown or editable until the server's copy arrives.
  if (loading) {
    if (loading === 'loading') return { key: 'loading', text: 'Loading…' };
    const secs = s.state === 'reconnecting' && retryAt ? Math.max(0, Math.ceil((retryAt - now) / 1000)) : 0;
    return { key: 'unreachable', text: secs > 0 ? `Can’t reach the server · retrying in ${secs} s` : 'Can’t reach the server · retrying…' };
  }
  // The server is up but cannot store anything (its database is unreachable): say so plainly.
  if (s.savingPaused) return { key: 'paused', text: 'Saving paused: the server cannot reach its database. Your changes are kept on this device and will be saved when it is back.' };
  // On the SSE fallback (WebSockets blocked on this network) say so: it works, but costs more.
  const via = s.transport === 'sse' ? ' (HTTP fallback)' : '';
  if (s.state === 'connected') return { key: 'connected', text: s.unsynced ? `Connected${via} · syncing…` : `Connected${via}` };
  if (s.state === 'reconnecting') {
    const secs = retryAt ? Math.max(0, Math.ceil((retryAt - now) / 1000)) : 0;
    const base = secs > 0 ? `Reconnecting in ${secs} s` : 'Reconnecting…';
    return { key: 'connecting', text: s.unsynced ? `${base} · unsynced changes` : base };
  }
  return { key: 'connecting', text: 'Connecting…' };
}

export function StatusLine({
  status,
  closed,
  retryAt,
  transfer,
  loading = false,
}: {
  status: CollabStatus;
  closed: boolean;
  retryAt: number | null;
  transfer?: TransferProgress | null;
  /** Never synced on this device: still loading, or the server could not be reached. */
  loading?: false | 'loading' | 'unreachable';
}) {
  const [now, setNow] = useState(() => Date.now());
  // Tick only while a countdown is shown.
  useEffect(() => {
    if (!retryAt) return;
    setNow(Date.now());
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, [retryAt]);
  const { key, text } = statusText(status, closed, retryAt, now, loading);
  return (
    <span className="status" data-status={key} data-transport={status.transport ?? ''} data-testid="conn-status" role="status" aria-live="polite">
      <span className="dot" aria-hidden="true" />
      <span>{text}</span>
      {transfer && !closed && (
        <span
          className="transfer"
          data-testid="transfer-progress"
          data-direction={transfer.direction}
          data-done={transfer.done ? 'true' : 'false'}
          role="progressbar"
          aria-label={transfer.direction === 'up' ? 'Saving a large change' : 'Receiving a large change'}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={transfer.done ? 100 : Math.floor((transfer.bytes / Math.max(1, transfer.total)) * 100)}
        >
          {' · '}
          {transferText(transfer)}
        </span>
      )}
    </span>
  );
}
