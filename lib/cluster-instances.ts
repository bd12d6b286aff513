/**
 * Where collab-server instances announce themselves in Redis, shared by collab-server (which writes)
 * and the app (which reads, to fan the admin console out to every instance). Pure: key names and
 * the record format only.
 *
 * - `<prefix>instances` — sorted set: member = instance id, score = when its registration expires
 *   (ms, Redis server clock). An instance refreshes it every heartbeat; a missing or past score
 *   means the instance is dead, and whatever it counted (socket limits) no longer counts.
 * - `<prefix>instances:info` — hash: instance id → JSON {@link InstanceInfo}.
 */
import { z } from 'zod';

export const InstanceInfoSchema = z.object({
  /** Base URL of the instance's HTTP port (admin API), e.g. http://10.0.0.7:1234. */
  url: z.string().url(),
  startedAt: z.number(),
});
export type InstanceInfo = z.infer<typeof InstanceInfoSchema>;

/** The registry's Redis keys under `prefix`. */
export function instanceKeys(prefix: string): { live: string; info: string } {
  return { live: `${prefix}instances`, info: `${prefix}instances:info` };
}

/** Decode an info record; null for a malformed one (an older or foreign writer). */
export function parseInstanceInfo(json: string | null): InstanceInfo | null {
  if (!json) return null;
  try {
    const r = InstanceInfoSchema.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * Connection ids are `<instance id>:<local id>` in a cluster, so the instance that holds a socket
 * can be found from its id alone; null when the id carries no instance.
 */
export function instanceOfConnId(connId: string): string | null {
  const i = connId.lastIndexOf(':');
  return i > 0 ? connId.slice(0, i) : null;
}
