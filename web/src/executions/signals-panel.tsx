import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import type { Execution } from '../../../src/sdk/types';
import { errorMessage, useClient } from '../api/weft-client';
import { JsonView } from '../ui/json-view';
import { QueryState } from '../ui/query-state';
import { isTerminalExecution } from '../ui/status';
import { formatTime } from '../ui/time';
import { executionKeys } from './use-live-execution';

const SIGNAL_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

/** Signals awaited by the execution's steps, those sent so far, and a form to send one. */
export function SignalsPanel(props: { execution: Execution }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const { execution } = props;
  const awaited = [
    ...new Set((execution.steps ?? []).flatMap((step) => (step.waiting_for_signal ? [step.waiting_for_signal] : []))),
  ];
  const [name, setName] = useState(awaited[0] ?? '');
  const [data, setData] = useState('{}');
  const [problem, setProblem] = useState<string | null>(null);
  const signals = useQuery({
    queryKey: executionKeys.signals(execution.id),
    queryFn: ({ signal }) => client.executions.signals(execution.id, { limit: 50 }, { signal }),
  });
  const send = useMutation({
    mutationFn: (payload: { name: string; data: unknown }) =>
      client.executions.sendSignal(execution.id, payload.name, payload.data),
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: executionKeys.signals(execution.id) });
      queryClient.invalidateQueries({ queryKey: executionKeys.execution(execution.id) });
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!SIGNAL_NAME.test(name)) {
      setProblem('A signal name is a letter, then up to 63 letters, digits, _ or -.');
      return;
    }
    let parsed: unknown;
    try {
      parsed = data.trim() === '' ? null : JSON.parse(data);
    } catch (error) {
      setProblem(`The data is not valid JSON: ${(error as Error).message}`);
      return;
    }
    setProblem(null);
    send.mutate({ name, data: parsed });
  };
  const ended = isTerminalExecution(execution.status);

  return (
    <div className="grid-2" style={{ padding: 14 }} data-view="signals">
      <form onSubmit={submit} className="field" style={{ gap: 10 }} aria-label="Send a signal">
        <h2>Send a signal</h2>
        {awaited.length > 0 ? (
          <p className="small">
            Awaited now:{' '}
            {awaited.map((signal) => (
              <button
                key={signal}
                type="button"
                className="label-chip"
                onClick={() => setName(signal)}
                data-awaited={signal}
              >
                {signal}
              </button>
            ))}
          </p>
        ) : (
          <p className="small subtle">
            No step waits for a signal now; a signal sent is kept for the first step that waits for its name.
          </p>
        )}
        <div className="field">
          <label htmlFor="signal-name">Name</label>
          <input
            id="signal-name"
            name="signal_name"
            value={name}
            onChange={(event) => setName(event.target.value)}
            placeholder="approval"
          />
        </div>
        <div className="field">
          <label htmlFor="signal-data">Data (JSON)</label>
          <textarea
            id="signal-data"
            name="signal_data"
            rows={5}
            value={data}
            onChange={(event) => setData(event.target.value)}
          />
        </div>
        {problem ? <p className="form-error">{problem}</p> : null}
        {send.error ? (
          <p className="form-error" role="alert">
            {errorMessage(send.error)}
          </p>
        ) : null}
        {send.data ? (
          <p className="small" role="status" data-signal-sent={send.data.id}>
            Sent “{send.data.name}”:{' '}
            {send.data.consumed_by_step
              ? `consumed by step ${send.data.consumed_by_step}`
              : 'kept until a step waits for it'}
            .
          </p>
        ) : null}
        <div>
          <button
            type="submit"
            className="primary"
            disabled={send.isPending || ended}
            title={ended ? 'The execution has ended' : undefined}
          >
            Send signal
          </button>
        </div>
      </form>
      <div>
        <h2>Signals sent</h2>
        <QueryState isLoading={signals.isLoading} error={signals.error} what="signals" />
        {signals.data && signals.data.items.length === 0 ? <p className="subtle small">None yet.</p> : null}
        {signals.data && signals.data.items.length > 0 ? (
          <table className="list">
            <thead>
              <tr>
                <th>Name</th>
                <th>Sent</th>
                <th>Consumed by</th>
              </tr>
            </thead>
            <tbody>
              {signals.data.items.map((signal) => (
                <tr key={signal.id} data-signal={signal.name}>
                  <td className="mono">
                    {signal.name}
                    <JsonView value={signal.data} name={signal.id} />
                  </td>
                  <td className="small subtle">{formatTime(signal.created_at)}</td>
                  <td className="mono small">
                    {signal.consumed_by_step
                      ? `${signal.consumed_by_step}${signal.consumed_by_index === null ? '' : ` [${signal.consumed_by_index}]`}`
                      : 'waiting for a step'}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </div>
    </div>
  );
}
