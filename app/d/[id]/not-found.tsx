import Link from 'next/link';
import { TopBar } from '../../_components/TopBar';
import { currentUser } from '../../_components/server-session';

/** /d/<id> that is missing, deleted or not shared with the caller: HTTP 404, with the app's header. */
export default async function DocNotFound() {
  const me = await currentUser();
  return (
    <>
      <TopBar me={me} />
      <main className="page">
        <div className="card empty" role="alert" data-testid="doc-unavailable">
          <h2>This document is not available</h2>
          <p>It may have been deleted, or it has not been shared with you. Ask its owner to share it with you.</p>
          <Link className="btn" href="/">
            Back to documents
          </Link>
        </div>
      </main>
    </>
  );
}
