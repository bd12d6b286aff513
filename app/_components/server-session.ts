/**
 * Server-side: who is signed in, read from the session cookie while rendering a page, so pages
 * redirect before any HTML is sent and the client never has to probe the API to find out.
 */
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { getApp } from '@/app/_server/context';
import { SESSION_COOKIE } from '@/app/_server/http';
import type { Me } from './api';

/** The signed-in user, or null. */
export async function currentUser(): Promise<Me | null> {
  const token = (await cookies()).get(SESSION_COOKIE)?.value;
  if (!token) return null;
  const u = await getApp().sessions.user(token);
  return u ? { id: u.id, email: u.email, name: u.name, isAdmin: u.is_admin === 1 } : null;
}

/** The signed-in user, or a redirect to sign in that comes back to `next`. */
export async function requireUser(next: string): Promise<Me> {
  const me = await currentUser();
  if (!me) redirect(`/signin?next=${encodeURIComponent(next)}`);
  return me;
}
