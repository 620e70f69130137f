import { statusLook } from './status';

/** A status as symbol and word, in its tone (never colour alone). */
export function StatusBadge(props: { status: string; pill?: boolean }) {
  const look = statusLook(props.status);
  return (
    <span className={`status tone-${look.tone}${props.pill ? ' pill' : ''}`} data-status-badge={props.status}>
      <span className={`symbol${props.status === 'running' ? ' spin-slow' : ''}`} aria-hidden="true">
        {look.symbol}
      </span>
      {look.label}
    </span>
  );
}
