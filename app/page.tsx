'use client';
/** Home: the signed-in user's documents (anyone else is sent to sign in). */
import { DocList } from './_components/DocList';
import { TopBar } from './_components/TopBar';
import { useMe } from './_components/use-me';

export default function HomePage() {
  const state = useMe();
  return (
    <>
      <TopBar me={state.status === 'ready' ? state.me : null} />
      {state.status === 'ready' ? (
        <DocList me={state.me} />
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
