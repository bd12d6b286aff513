'use client';
/** Avatars of who has the document open right now (from Yjs awareness), one per user. */
import { useEffect, useState } from 'react';
import type { CollabClient } from '@/lib/collab-client';
import { Avatar } from '../Avatar';

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
        const u = st.user as PresentUser | undefined;
        if (u?.id && !seen.has(u.id)) seen.set(u.id, u);
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
        <Avatar key={u.id} id={u.id} name={u.name} color={u.color} title={u.id === meId ? `${u.name} (you)` : u.name} />
      ))}
      {users.length > shown.length && <span className="avatar" style={{ background: '#62656e' }}>+{users.length - shown.length}</span>}
    </div>
  );
}
