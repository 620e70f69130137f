import type { Workflow } from '../../../src/sdk/types';
import { formatIn, formatTime } from '../ui/time';

interface Trigger {
  event?: string;
  match?: Record<string, unknown>;
  condition?: string;
  cron?: string;
  timezone?: string;
  input?: unknown;
}

/** When a workflow starts by itself: its event triggers and cron schedules, with the next fire. */
export function TriggersPanel(props: { workflow: Workflow }) {
  const triggers = ((props.workflow.definition as { triggers?: Trigger[] }).triggers ?? []) as Trigger[];
  const next = props.workflow.next_fire_at;
  return (
    <section className="card padded" aria-label="Triggers" data-section="triggers">
      <h2>Triggers</h2>
      {triggers.length === 0 ? (
        <p className="subtle">None: runs start from the API or this page.</p>
      ) : (
        <ul style={{ margin: 0, paddingLeft: 18 }}>
          {triggers.map((trigger, index) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: triggers are identified by their place in the definition.
            <li key={index} style={{ marginBottom: 6 }}>
              {trigger.cron ? (
                <>
                  cron <code>{trigger.cron}</code> ({trigger.timezone ?? 'UTC'})
                </>
              ) : (
                <>
                  event <code>{trigger.event}</code>
                  {trigger.match ? (
                    <>
                      {' '}
                      matching <code>{JSON.stringify(trigger.match)}</code>
                    </>
                  ) : null}
                  {trigger.condition ? (
                    <>
                      {' '}
                      if <code>{trigger.condition}</code>
                    </>
                  ) : null}
                </>
              )}
            </li>
          ))}
        </ul>
      )}
      {next ? (
        <p className="small" data-next-fire={next}>
          Next cron fire: <strong>{formatTime(next)}</strong> <span className="subtle">({formatIn(next)})</span>
        </p>
      ) : null}
    </section>
  );
}
