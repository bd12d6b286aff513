import type { Metadata } from 'next';
import { DocList } from './_components/DocList';
import { requireUser } from './_components/server-session';
import { TopBar } from './_components/TopBar';

export const metadata: Metadata = { title: 'Documents' };

/** Home: the signed-in user's documents (anyone else is sent to sign in). */
export default async function HomePage() {
  const me = await requireUser('/');
  return (
    <>
      <TopBar me={me} />
      <DocList me={me} />
    </>
  );
}
