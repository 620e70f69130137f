import { type QueryClient, useQuery, useQueryClient } from '@tanstack/react-query';
import { useMemo } from 'react';
import type { Execution } from '../../../src/sdk/types';
import { POLL_INTERVAL_MS, throttle, useLiveStream } from '../api/live-stream';
import { useClient } from '../api/weft-client';
import { applyEvent } from './apply-event';

/** Query keys of one execution's data; stream events refresh them. */
export const executionKeys = {
  execution: (id: string) => ['executions', id] as const,
  timeline: (id: string) => ['executions', id, 'timeline'] as const,
  events: (id: string) => ['executions', id, 'events'] as const,
  items: (id: string) => ['executions', id, 'items'] as const,
  signals: (id: string) => ['executions', id, 'signals'] as const,
  artifacts: (id: string) => ['executions', id, 'artifacts'] as const,
};

function refreshers(queryClient: QueryClient, id: string) {
  // The snapshot and events carry statuses; outputs, item counts, attempts and times come from a
  // refetch, at most every 400 ms however many events arrive.
  return {
    execution: throttle(
      () => queryClient.invalidateQueries({ queryKey: executionKeys.execution(id), exact: true }),
      400,
    ),
    details: throttle(() => {
      for (const key of [
        executionKeys.timeline(id),
        executionKeys.events(id),
        executionKeys.items(id),
        executionKeys.signals(id),
        executionKeys.artifacts(id),
      ]) {
        queryClient.invalidateQueries({ queryKey: key });
      }
    }, 1000),
  };
}

/**
 * An execution kept current by its stream (`/executions/{id}/stream`): the snapshot replaces the
 * cached execution, each event updates it and schedules refetches of what it does not carry;
 * while the stream is down, the execution is polled every 5 s.
 */
export function useLiveExecution(id: string) {
  const client = useClient();
  const queryClient = useQueryClient();
  const refresh = useMemo(() => refreshers(queryClient, id), [queryClient, id]);
  const mode = useLiveStream(`/executions/${encodeURIComponent(id)}/stream`, (message) => {
    if (message.type === 'execution.snapshot') {
      const snapshot = message.data.execution as Execution | undefined;
      if (snapshot) queryClient.setQueryData(executionKeys.execution(id), snapshot);
      refresh.details();
      return;
    }
    if (message.type === 'error') return;
    queryClient.setQueryData<Execution>(executionKeys.execution(id), (current) =>
      current ? applyEvent(current, message) : current,
    );
    refresh.execution();
    refresh.details();
  });
  const execution = useQuery({
    queryKey: executionKeys.execution(id),
    queryFn: ({ signal }) => client.executions.get(id, { signal }),
    refetchInterval: mode === 'polling' ? POLL_INTERVAL_MS : false,
  });
  return { execution, mode };
}
