'use client';
/** Avatars of who has the document open right now (from Yjs awareness), one per user. */
import { useEffect, useState } from 'react';
import type { CollabClient } from '@/lib/collab-client';
import { Avatar } from '../Avatar';
import { isPresenceColor } from '@/lib/presence';

export interface PresentUser {
  id: string;
  name: string;
  color: string;
}

export function usePresence(client: CollabClient | null): PresentUser[] {
  const [users, setUsers] = useState<PresentUser[]>([]);
  useEffect(() => {
    if (!client) {
      setUsers([]);
      return;
    }
    const aw = client.provider.awareness;
    const update = () => {
      const seen = new Map<string, PresentUser>();
      const self = aw.getLocalState()?.user as PresentUser | undefined;
      if (self?.id) seen.set(self.id, self);
      for (const st of aw.getStates().values()) {
        const u = st?.user as Partial<PresentUser> | undefined;
        // Only strings reach the page, and only a #rgb colour reaches a style (a CSS url() would be fetched).
        if (typeof u?.id === 'string' && u.id && !seen.has(u.id)) seen.set(u.id, { id: u.id, name: typeof u.name === 'string' ? u.name : '', color: isPresenceColor(u.color) ? u.color : '' });
      }
      setUsers([...seen.values()]);
    };
    update();
    aw.on('change', update);
    return () => aw.off('change', update);
  }, [client]);
  return users;
}

export function Presence({ users, meId }: { users: PresentUser[]; meId: string }) {
  if (users.length === 0) return null;
  const shown = users.slice(0, 5);
  return (
    <div className="avatars" data-testid="presence" aria-label={`${users.length} ${users.length === 1 ? 'person' : 'people'} here now`} role="group">
      {shown.map((u) => (
        <Avatar key={u.id} id={u.id} name={u.name} color={u.color || undefined} title={u.id === meId ? `${u.name} (you)` : u.name} />
      ))}
      {users.length > shown.length && <span className="avatar" style={{ background: '#62656e' }}>+{users.length - shown.length}</span>}
    </div>
  );
}
