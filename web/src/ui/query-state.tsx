import { errorMessage } from '../api/weft-client';

/** The loading or error state of a query, in place of its content. */
export function QueryState(props: { isLoading: boolean; error: unknown; what: string }) {
  if (props.error) {
    return (
      <div className="banner" role="alert">
        <strong>Could not load {props.what}.</strong> {errorMessage(props.error)}
      </div>
    );
  }
  if (props.isLoading) return <div className="empty">Loading {props.what}…</div>;
  return null;
}
