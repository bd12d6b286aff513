/**
 * The usual shape of an integration test file: one in-process collab-server over a fresh fixture,
 * created before the file's tests, and everything they opened closed after them.
 */
import { afterAll, beforeAll } from 'vitest';
import type { WebsocketProvider } from 'y-websocket';
import type { CollabClient } from '../../lib/collab-client';
import { createFixture, startServer, type Fixture, type InProcessServer } from './fixture';
import { upgradeLog, type RawClient } from './raw-client';

export interface ServerSuite {
  fx: Fixture;
  srv: InProcessServer;
  /** The URL of every upgrade request the server received, in order. */
  upgrades: string[];
  /** Push what a test opens here; it is closed after the file's tests. */
  open: RawClient[];
  providers: WebsocketProvider[];
  clients: CollabClient[];
}

export function useServer(opts: { after?: () => void } = {}): ServerSuite {
  const s = { upgrades: [], open: [], providers: [], clients: [] } as unknown as ServerSuite;
  beforeAll(async () => {
    s.fx = await createFixture();
    s.srv = await startServer(s.fx);
    s.upgrades = upgradeLog(s.srv);
  });
  afterAll(async () => {
    for (const c of s.clients) c.destroy();
    for (const c of s.open) c.close();
    for (const p of s.providers) p.destroy();
    await s.srv.close();
    s.fx.cleanup();
    opts.after?.();
  });
  return s;
}
