import { Link } from 'react-router';

/** A path the app does not know. */
export function NotFoundPage() {
  return (
    <div className="page narrow">
      <h1>Not found</h1>
      <p>
        There is no page at this address. Go to the <Link to="/workflows">workflows</Link> or the{' '}
        <Link to="/executions">executions</Link>.
      </p>
    </div>
  );
}
