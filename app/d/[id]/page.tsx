import type { Metadata } from 'next';
import { notFound } from 'next/navigation';
import { effectiveRole } from '@/lib/acl';
import { isDocId } from '@/lib/ids';
import { getApp } from '@/app/_server/context';
import { DocEditor } from '../../_components/editor/DocEditor';
import { requireUser } from '../../_components/server-session';
import type { DocSummary } from '../../_components/api';

type Props = { params: Promise<{ id: string }> };

/** The tab title is the document's, when the caller may see it. */
export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { id } = await params;
  return { title: isDocId(id) ? 'Document' : 'Not found' };
}

/** The editor at /d/[id]: who is asking and what they may do is settled here, the rest is client-side. */
export default async function DocPage({ params }: Props) {
  const { id } = await params;
  const me = await requireUser(`/d/${id}`);
  const loaded = isDocId(id) ? await getApp().docs.load(id) : undefined;
  const role = loaded ? effectiveRole({ userId: me.id, isAdmin: me.isAdmin }, loaded.acl) : null;
  // A real 404 (not a 200 page saying so), rendered by ./not-found.tsx with the top bar.
  if (!loaded || !role) notFound();
  const r = loaded.row;
  const doc: DocSummary = {
    id: r.id,
    title: r.title,
    role,
    ownerId: r.owner_id,
    ownerName: r.owner_name,
    ownerEmail: r.owner_email,
    generalAccess: r.general_access,
    lastEditAt: r.last_edit_at,
    updatedAt: r.updated_at,
  };
  return <DocEditor me={me} initialDoc={doc} />;
}
