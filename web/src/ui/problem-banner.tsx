import { errorMessage, WeftApiError } from '../api/weft-client';

/** A failed request as a banner: its message, and each field error of a 400 at its path. */
export function ProblemBanner(props: { error: unknown; title: string }) {
  const { error } = props;
  return (
    <div className="banner" role="alert">
      <strong>{props.title}</strong> {errorMessage(error)}
      {error instanceof WeftApiError && error.errors.length > 0 ? (
        <ul className="error-list">
          {error.errors.map((field) => (
            <li key={`${field.path}:${field.message}`} data-error-path={field.path}>
              <code>{field.path}</code>: {field.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
