import type { Metadata } from 'next';
import { AdminConsole } from '../_components/admin/AdminConsole';
import { requireUser } from '../_components/server-session';
import { TopBar } from '../_components/TopBar';

export const metadata: Metadata = { title: 'Admin' };

/** /admin: the admin console for instance admins (others see an explanation). */
export default async function AdminPage() {
  const me = await requireUser('/admin');
  return (
    <>
      <TopBar me={me} />
      <AdminConsole me={me} />
    </>
  );
}
