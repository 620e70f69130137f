/** Labels as chips `key: value`. */
export function Labels(props: { labels: Record<string, string> | undefined; emptyText?: string }) {
  const entries = Object.entries(props.labels ?? {});
  if (entries.length === 0)
    return props.emptyText === '' ? null : <span className="subtle">{props.emptyText ?? '—'}</span>;
  return (
    <span>
      {entries.map(([key, value]) => (
        <span key={key} className="label-chip">
          {key}: {value}
        </span>
      ))}
    </span>
  );
}
