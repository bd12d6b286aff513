/**
 * A stable colour per user (hash of the user id → one of a palette readable under white text):
 * every colour is at least 4.5:1 against white (WCAG AA for avatar initials and caret labels).
 */
const palette = ['#be123c', '#be185d', '#7e22ce', '#6d28d9', '#4338ca', '#1d4ed8', '#0369a1', '#0f766e', '#047857', '#4d7c0f', '#a16207', '#c2410c', '#b45309', '#475569'];

function paletteIndex(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % palette.length;
}

export function userColor(id: string): string {
  return palette[paletteIndex(id)]!;
}

/**
 * The colour this user shows among the people present: their own (userColor) unless another user
 * already shows it and wins the tie (the smaller id keeps it); then the next palette colour nobody
 * present shows. Every client applies the same rule, so two collaborators never share a colour
 * (while the palette lasts).
 */
export function distinctColor(myId: string, others: readonly { id: string; color: string }[]): string {
  const mine = paletteIndex(myId);
  const rivals = others.filter((o) => o.id !== myId);
  if (!rivals.some((o) => o.color === palette[mine] && o.id < myId)) return palette[mine]!;
  const used = new Set(rivals.map((o) => o.color));
  for (let k = 1; k < palette.length; k++) {
    const c = palette[(mine + k) % palette.length]!;
    if (!used.has(c)) return c;
  }
  return palette[mine]!;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  if (parts.length === 1) return parts[0]!.slice(0, 2).toUpperCase();
  return (parts[0]![0]! + parts[parts.length - 1]![0]!).toUpperCase();
}
