import { useMemo } from 'react';
import { formatBytes, jsonText } from './json-text';

/** Downloads text as a file (a value too big to show). */
function download(name: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A JSON value, pretty-printed; over 256 KiB shown truncated with a download of the whole. */
export function JsonView(props: { value: unknown; name?: string; label?: string }) {
  const text = useMemo(() => jsonText(props.value), [props.value]);
  return (
    <div className="json-view" data-json={props.label ?? props.name ?? 'value'}>
      <pre className="json">{text.shown}</pre>
      {text.truncated ? (
        <p className="small subtle row" data-truncated="true">
          Showing the first 256 KiB of {formatBytes(text.bytes)}.
          <button type="button" className="link" onClick={() => download(`${props.name ?? 'value'}.json`, text.full)}>
            Download the whole value
          </button>
        </p>
      ) : null}
    </div>
  );
}
