/**
 * Which images a document may hold, recognised by their first bytes (the declared type is not
 * trusted): PNG, JPEG, GIF, WebP. SVG is not accepted: it can carry script.
 */
export const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/gif', 'image/webp'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

const startsWith = (b: Uint8Array, sig: number[], at = 0) => sig.every((x, i) => b[at + i] === x);

/** The image type the bytes are, or null when they are none of IMAGE_TYPES. */
export function sniffImageType(b: Uint8Array): ImageType | null {
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(b, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(b, [0x47, 0x49, 0x46, 0x38])) return 'image/gif';
  if (startsWith(b, [0x52, 0x49, 0x46, 0x46]) && startsWith(b, [0x57, 0x45, 0x42, 0x50], 8)) return 'image/webp';
  return null;
}

/** An image's address inside a document (what the editor stores in the image node's src). */
export const imageUrl = (docId: string, imageId: string) => `/api/docs/${encodeURIComponent(docId)}/images/${encodeURIComponent(imageId)}`;
