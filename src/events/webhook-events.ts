/**
 * The execution event types of SPEC §5, as webhooks (and streams) name them. The engine appends
 * them to `execution_events`; a subscription picks some or all (`*`).
 */
export const EXECUTION_EVENT_TYPES = Object.freeze([
  'workflow.started',
  // Not in SPEC §5's list: an execution waiting for a concurrency slot (§3.1) announces it.
  'workflow.queued',
  'workflow.completed',
  'workflow.failed',
  'workflow.cancelled',
  'workflow.paused',
  'workflow.resumed',
  'step.started',
  'step.completed',
  'step.failed',
  'step.retrying',
  'step.skipped',
] as const);

/** One execution event type. */
export type ExecutionEventType = (typeof EXECUTION_EVENT_TYPES)[number];

/**
 * Every type of event an execution's log holds: the subscribable ones and `step.waiting` (a
 * `workflow` step waiting for its child, src/children/), which the log and streams show.
 */
export const LOGGED_EVENT_TYPES = Object.freeze([...EXECUTION_EVENT_TYPES, 'step.waiting'] as const);

/** What a subscription may list: an event type, or `*` for every type. */
export const SUBSCRIBABLE_EVENT_TYPES = Object.freeze([...EXECUTION_EVENT_TYPES, '*'] as const);
