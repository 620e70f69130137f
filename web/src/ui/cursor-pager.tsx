/**
 * Cursor pages (SPEC §5: `{items, next_cursor}`): the cursors of the pages already seen are a
 * stack, so "Previous" needs no offset and every page is one request of `limit` rows, however
 * many rows there are.
 */
export function CursorPager(props: {
  pageNumber: number;
  hasNext: boolean;
  onPrevious: () => void;
  onNext: () => void;
  busy?: boolean;
  label?: string;
}) {
  return (
    <nav className="pager" aria-label={props.label ?? 'Pages'}>
      {props.busy ? <span className="subtle small">Loading…</span> : null}
      <span className="subtle small">Page {props.pageNumber}</span>
      <button type="button" onClick={props.onPrevious} disabled={props.pageNumber <= 1}>
        ← Previous
      </button>
      <button type="button" onClick={props.onNext} disabled={!props.hasNext}>
        Next →
      </button>
    </nav>
  );
}
