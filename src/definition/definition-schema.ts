import { type Static, type TSchema, Type } from 'typebox';

/**
 * The JSON Schema of a workflow definition (SPEC §1), written once in TypeBox. It validates
 * definitions (structurally; `validate-definition.ts` adds the checks a schema cannot express),
 * types them, and documents them in the OpenAPI document.
 */

/** A string limited to the given values, emitted as a plain `enum` so errors read well. */
export function StringEnum<const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** Pattern of step ids (SPEC §1). */
export const STEP_ID_PATTERN = '^[A-Za-z][A-Za-z0-9_-]{0,63}$';

/** Largest number of steps one definition may hold. */
export const MAX_STEPS = 2000;

/** Run conditions of a step over its dependencies' outcomes. */
export const RUN_IF_VALUES = ['all_success', 'all_done', 'any_success'] as const;

/** Backoff shapes of a retry policy. */
export const BACKOFF_VALUES = ['fixed', 'exponential'] as const;

const Strict = { additionalProperties: false } as const;

const AnyJson = Type.Unknown({ description: 'Any JSON value; strings may hold {{ templates }}.' });

const NullableSeconds = (description: string) =>
  Type.Unsafe<number | null>({ type: ['number', 'null'], exclusiveMinimum: 0, maximum: 31_536_000, description });

// Key lengths as `propertyNames`: TypeBox turns a Record's key schema into `^.*$` and drops them.
const Labels = Type.Record(Type.String(), Type.String({ maxLength: 1000 }), {
  description: 'String map, filterable with `label=key:value`.',
  maxProperties: 64,
  propertyNames: { type: 'string', minLength: 1, maxLength: 100 },
});

export const RetryPolicySchema = Type.Object(
  {
    max_attempts: Type.Integer({ minimum: 1, maximum: 100, description: 'Attempts in all, the first included.' }),
    backoff: Type.Optional(StringEnum(BACKOFF_VALUES, { default: 'fixed' })),
    delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000, default: 1000 })),
    max_delay_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400_000 })),
    jitter: Type.Optional(Type.Boolean({ default: true, description: 'Randomise each delay by up to ±25%.' })),
  },
  { ...Strict, title: 'Retry policy' },
);

export const InputMappingSchema = Type.Object(
  {
    from_step: Type.String({ minLength: 1, description: 'Step whose output is read; becomes a dependency.' }),
    from_field: Type.Optional(
      Type.String({ minLength: 1, description: 'Dotted path in that output; the whole output when absent.' }),
    ),
    to_field: Type.String({ minLength: 1, description: 'Dotted path in this step input to write.' }),
    transform: Type.Optional(Type.String({ minLength: 1, description: 'JSONata applied to the mapped value ($).' })),
  },
  { ...Strict, title: 'Input mapping' },
);

export const FallbackSchema = Type.Object(
  {
    type: Type.String({ minLength: 1, description: 'Task type of the fallback; may differ from the step.' }),
    input: Type.Optional(AnyJson),
    timeout_seconds: Type.Optional(NullableSeconds('Per-attempt timeout of the fallback.')),
  },
  { ...Strict, title: 'Fallback' },
);

export const StepSchema = Type.Object(
  {
    id: Type.String({ pattern: STEP_ID_PATTERN, description: 'Unique within the definition.' }),
    type: Type.String({ minLength: 1, maxLength: 200, description: 'Task type.' }),
    name: Type.Optional(Type.String({ maxLength: 255 })),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    input: Type.Optional(AnyJson),
    depends_on: Type.Optional(Type.Array(Type.String(), { maxItems: MAX_STEPS })),
    input_mappings: Type.Optional(Type.Array(InputMappingSchema, { maxItems: 100 })),
    when: Type.Optional(Type.String({ minLength: 1, description: 'Template or JSONata; falsy skips the step.' })),
    run_if: Type.Optional(StringEnum(RUN_IF_VALUES, { default: 'all_success' })),
    retry: Type.Optional(RetryPolicySchema),
    timeout_seconds: Type.Optional(NullableSeconds('Per-attempt timeout.')),
    fallback: Type.Optional(FallbackSchema),
    for_each: Type.Optional(
      Type.Unsafe<string | unknown[]>({ type: ['string', 'array'], description: 'Template or array to map over.' }),
    ),
    concurrency: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1000, description: 'for_each items running at once (default 10).' }),
    ),
    tolerated_failures: Type.Optional(
      Type.Integer({ minimum: 0, description: 'for_each: failed items the step tolerates (their outputs are null).' }),
    ),
    tolerated_failure_percent: Type.Optional(
      Type.Number({ minimum: 0, maximum: 100, description: 'for_each: percent of all items that may fail.' }),
    ),
  },
  { ...Strict, title: 'Step' },
);

export const TriggerSchema = Type.Object(
  {
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Event type to match.' })),
    match: Type.Optional(Type.Record(Type.String(), AnyJson, { description: 'AND over dotted paths of data.' })),
    condition: Type.Optional(Type.String({ minLength: 1, description: 'JSONata predicate over the event.' })),
    cron: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Cron expression.' })),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 100, default: 'UTC' })),
    input: Type.Optional(AnyJson),
    enabled: Type.Optional(Type.Boolean({ default: true })),
  },
  { ...Strict, title: 'Trigger', description: 'Either an event trigger (`event`) or a schedule (`cron`).' },
);

/** What happens to an execution started when its key has no free slot (SPEC §3.1). */
export const CONCURRENCY_STRATEGIES = ['queue', 'cancel_newest', 'cancel_in_progress'] as const;

export const ConcurrencySchema = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 100_000, description: 'Executions per key holding a slot.' }),
    key: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1000,
        description: 'Template over `input`; executions are limited per rendered key (absent: one key).',
      }),
    ),
    strategy: Type.Optional(StringEnum(CONCURRENCY_STRATEGIES, { default: 'queue' })),
  },
  { ...Strict, title: 'Concurrency' },
);

export const WorkflowDefinitionSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 255 }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    enabled: Type.Optional(Type.Boolean({ default: true })),
    labels: Type.Optional(Labels),
    input_schema: Type.Optional(
      Type.Unsafe<Record<string, unknown> | boolean>({
        type: ['object', 'boolean'],
        description: 'JSON Schema 2020-12 of the execution input.',
      }),
    ),
    sequential: Type.Optional(Type.Boolean({ default: false })),
    stop_on_failure: Type.Optional(Type.Boolean({ default: true })),
    timeout_seconds: Type.Optional(NullableSeconds('Whole-execution timeout; null = none.')),
    webhook_url: Type.Optional(
      Type.Unsafe<string | null>({ type: ['string', 'null'], format: 'uri', pattern: '^https?://', maxLength: 2000 }),
    ),
    suppress_step_events: Type.Optional(Type.Boolean({ default: true })),
    concurrency: Type.Optional(ConcurrencySchema),
    triggers: Type.Optional(Type.Array(TriggerSchema, { maxItems: 100 })),
    steps: Type.Array(StepSchema, { minItems: 1, maxItems: MAX_STEPS }),
    output: Type.Optional(AnyJson),
  },
  { ...Strict, title: 'Workflow definition' },
);

/** A workflow definition (SPEC §1). */
export type WorkflowDefinition = Static<typeof WorkflowDefinitionSchema>;
/** One step of a definition. */
export type StepDefinition = Static<typeof StepSchema>;
/** A trigger of a definition. */
export type TriggerDefinition = Static<typeof TriggerSchema>;

/** Strips TypeBox's symbol keys so the schema can be serialised or handed to another validator. */
export function plainSchema(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}
