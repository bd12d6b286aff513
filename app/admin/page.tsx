'use client';
/** /admin: the admin console for instance admins. */
import { AdminConsole } from '../_components/admin/AdminConsole';
import { TopBar } from '../_components/TopBar';
import { useMe } from '../_components/use-me';

export default function AdminPage() {
  const state = useMe();
  return (
    <>
      <TopBar me={state.status === 'ready' ? state.me : null} />
      {state.status === 'ready' ? (
        <AdminConsole me={state.me} />
      ) : state.status === 'error' ? (
        <main className="page">
          <div className="banner banner-error" role="alert">
            {state.message}
          </div>
        </main>
      ) : (
        <main className="page">
          <div className="empty">Loading…</div>
        </main>
      )}
    </>
  );
}
