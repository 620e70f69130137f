import { type ReactNode, useEffect, useRef } from 'react';

/** A modal dialog: Escape or the backdrop closes it, focus moves into it. */
export function Dialog(props: { title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  const { onClose } = props;
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    box.current?.querySelector<HTMLElement>('input, textarea, select, button')?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') onClose();
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      previous?.focus();
    };
  }, [onClose]);
  return (
    // biome-ignore lint/a11y/noStaticElementInteractions: the backdrop closes on click; Escape does the same for keyboards.
    // biome-ignore lint/a11y/useKeyWithClickEvents: Escape is handled on the document.
    <div className="dialog-backdrop" onClick={(event) => event.target === event.currentTarget && onClose()}>
      <div
        ref={box}
        className="card dialog"
        role="dialog"
        aria-modal="true"
        aria-label={props.title}
        style={props.wide ? { width: 'min(1100px, 100%)' } : undefined}
      >
        <div className="row">
          <h2 style={{ margin: 0 }}>{props.title}</h2>
          <span className="spacer" />
          <button type="button" className="ghost" aria-label="Close" onClick={onClose}>
            ✕
          </button>
        </div>
        {props.children}
      </div>
    </div>
  );
}
