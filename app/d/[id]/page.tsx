import type { Metadata } from 'next';
import { DocEditor } from '../../_components/editor/DocEditor';

export const metadata: Metadata = { title: 'Document' };

/** The editor at /d/[id]; everything interactive lives in the client component. */
export default async function DocPage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <DocEditor docId={id} />;
}
