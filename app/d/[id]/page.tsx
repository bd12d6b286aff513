import type { Metadata } from 'next';
import Link from 'next/link';
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
  if (!loaded || !role) {
    return (
      <main className="page">
        <div className="card empty" role="alert" data-testid="doc-unavailable">
          <h2>This document is not available</h2>
          <p>It may have been deleted, or you do not have access. Ask its owner to share it with you.</p>
          <Link className="btn" href="/">
            Back to documents
          </Link>
        </div>
      </main>
    );
  }
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
