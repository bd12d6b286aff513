import { initials, userColor } from './user-color';

/** A round initials avatar in the user's stable colour. */
export function Avatar({ id, name, color, title }: { id: string; name: string; color?: string; title?: string }) {
  return (
    <span className="avatar" style={{ background: color ?? userColor(id) }} title={title ?? name} aria-label={title ?? name} role="img">
      {initials(name)}
    </span>
  );
}
