/**
 * A stable colour per user (hash of the user id → one of a palette readable under white text):
 * every colour is at least 4.5:1 against white (WCAG AA for avatar initials and caret labels).
 */
const palette = ['#be123c', '#be185d', '#7e22ce', '#6d28d9', '#4338ca', '#1d4ed8', '#0369a1', '#0f766e', '#047857', '#4d7c0f', '#a16207', '#c2410c', '#b45309', '#475569'];

export function userColor(id: string): string {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  return palette[(h >>> 0) % palette.length]!;
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  if (parts.length === 0) return '?';
  if (parts.length === 1) return parts[0]!.slice(0, 2).toUpperCase();
  return (parts[0]![0]! + parts[parts.length - 1]![0]!).toUpperCase();
}
