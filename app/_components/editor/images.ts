'use client';
/**
 * Images pasted or dropped into the editor: each file goes to the document's image store
 * (POST /api/docs/<id>/images, size-limited and authorized like the document) and an image node
 * pointing at it is inserted where it was pasted or dropped. A refused image says why (onError)
 * instead of disappearing. Anything that is not an image file is left to the editor's own paste.
 */
import { Extension } from '@tiptap/core';
import { Plugin, PluginKey } from '@tiptap/pm/state';
import type { EditorView } from '@tiptap/pm/view';
import { IMAGE_TYPES } from '@/lib/image-types';
import { ApiError } from '../api';

const imageFiles = (list: FileList | null | undefined) => Array.from(list ?? []).filter((f) => (IMAGE_TYPES as readonly string[]).includes(f.type));

async function upload(docId: string, file: File): Promise<string> {
  const r = await fetch(`/api/docs/${encodeURIComponent(docId)}/images`, { method: 'POST', body: file, headers: { 'content-type': file.type }, credentials: 'same-origin' });
  const body = (await r.json().catch(() => null)) as { url?: string; message?: string; error?: string } | null;
  if (!r.ok || !body?.url) throw new ApiError(r.status, body?.error ?? 'internal', body?.message ?? `the server answered ${r.status}`);
  return body.url;
}

function insertImages(view: EditorView, docId: string, files: File[], pos: number | null, onError: (message: string) => void) {
  void (async () => {
    for (const file of files) {
      try {
        const src = await upload(docId, file);
        if (view.isDestroyed) return;
        const node = view.state.schema.nodes.image!.create({ src, alt: file.name || 'Image' });
        const at = pos ?? view.state.selection.from;
        view.dispatch(pos === null ? view.state.tr.replaceSelectionWith(node) : view.state.tr.insert(Math.min(at, view.state.doc.content.size), node));
      } catch (err) {
        const why = err instanceof ApiError ? err.message : 'it could not be uploaded';
        onError(`“${file.name || 'The image'}” was not added: ${why}.`);
      }
    }
  })();
}

/** The editor-only side of images: upload on paste and drop. */
export function imageUpload(docId: string, onError: (message: string) => void) {
  return Extension.create({
    name: 'tandemImageUpload',
    addProseMirrorPlugins() {
      return [
        new Plugin({
          key: new PluginKey('tandemImageUpload'),
          props: {
            handlePaste(view, event) {
              const files = imageFiles(event.clipboardData?.files);
              if (!files.length || !view.editable) return false;
              event.preventDefault();
              insertImages(view, docId, files, null, onError);
              return true;
            },
            handleDrop(view, event) {
              const files = imageFiles(event.dataTransfer?.files);
              if (!files.length || !view.editable) return false;
              event.preventDefault();
              const at = view.posAtCoords({ left: event.clientX, top: event.clientY });
              insertImages(view, docId, files, at ? at.pos : null, onError);
              return true;
            },
          },
        }),
      ];
    },
  });
}
