import { useMutation, useQuery } from '@tanstack/react-query';
import { errorMessage, useClient } from '../api/weft-client';
import { formatBytes } from '../ui/json-text';
import { QueryState } from '../ui/query-state';
import { formatTime } from '../ui/time';
import { executionKeys } from './use-live-execution';

/**
 * The execution's artifacts, each downloadable. A browser link cannot carry the API key, so the
 * download goes through the SDK client and is handed to the browser as a file.
 */
export function ArtifactsPanel(props: { executionId: string }) {
  const client = useClient();
  const artifacts = useQuery({
    queryKey: executionKeys.artifacts(props.executionId),
    queryFn: ({ signal }) => client.artifacts.list(props.executionId, { limit: 200 }, { signal }),
  });
  const download = useMutation({
    mutationFn: async (name: string) => {
      const file = await client.artifacts.get(props.executionId, name);
      const blob = await new Response(file.stream, { headers: { 'content-type': file.contentType } }).blob();
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = name;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    },
  });
  return (
    <div style={{ padding: 14 }} data-view="artifacts">
      <QueryState isLoading={artifacts.isLoading} error={artifacts.error} what="artifacts" />
      {download.error ? <div className="banner">{errorMessage(download.error)}</div> : null}
      {artifacts.data ? (
        artifacts.data.items.length === 0 ? (
          <p className="subtle">
            No artifacts. Steps store files with the http task's save_as, a handler's context.artifacts.put, or a
            worker's task.putArtifact.
          </p>
        ) : (
          <table className="list">
            <thead>
              <tr>
                <th>Name</th>
                <th>Step</th>
                <th>Type</th>
                <th className="num">Size</th>
                <th>Created</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {artifacts.data.items.map((artifact) => (
                <tr key={artifact.name} data-artifact={artifact.name}>
                  <td className="mono">{artifact.name}</td>
                  <td className="mono">{artifact.step_id ?? '—'}</td>
                  <td className="small">{artifact.content_type}</td>
                  <td className="num">{formatBytes(artifact.size)}</td>
                  <td className="small subtle">{formatTime(artifact.created_at)}</td>
                  <td>
                    <button type="button" onClick={() => download.mutate(artifact.name)} disabled={download.isPending}>
                      Download
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )
      ) : null}
    </div>
  );
}
