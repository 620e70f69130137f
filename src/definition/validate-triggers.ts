import { Cron } from 'croner';
import type { FieldError } from '../errors.js';
import { type LocatedReference, readExpressions } from './step-analysis.js';

/**
 * Validation of a definition's triggers (SPEC §1): each is either an event trigger (`event`,
 * optional `match` and JSONata `condition`) or a schedule (`cron`, optional `timezone` and
 * `input`). Cron expressions are parsed by croner (5 fields, or 6 with seconds).
 */

/** Parses a cron expression in a time zone; returns the error message, or undefined when valid. */
export function cronError(expression: string, timezone: string | undefined): string | undefined {
  try {
    const cron = new Cron(expression, { paused: true, timezone: timezone ?? 'UTC' });
    const next = cron.nextRun();
    cron.stop();
    return next === null ? 'never fires' : undefined;
  } catch (error) {
    return (error as Error).message.replace(/^Cron\w*: /, '');
  }
}

function isValidTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** Returns the errors of a definition's `triggers` array (structure is checked by the schema). */
export function validateTriggers(triggers: unknown): FieldError[] {
  if (!Array.isArray(triggers)) return [];
  const errors: FieldError[] = [];
  triggers.forEach((entry, index) => {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return;
    const trigger = entry as Record<string, unknown>;
    const pointer = `/triggers/${index}`;
    const isEvent = typeof trigger.event === 'string';
    const isCron = typeof trigger.cron === 'string';
    if (isEvent === isCron) {
      const message = isEvent
        ? "a trigger has either 'event' or 'cron', not both"
        : "a trigger needs 'event' (an event type) or 'cron' (a schedule)";
      errors.push({ path: pointer, message });
      return;
    }
    if (isCron) {
      for (const field of ['match', 'condition'] as const) {
        if (field in trigger)
          errors.push({ path: `${pointer}/${field}`, message: `only event triggers take '${field}'` });
      }
      const timezone = typeof trigger.timezone === 'string' ? trigger.timezone : undefined;
      if (timezone !== undefined && !isValidTimezone(timezone)) {
        errors.push({
          path: `${pointer}/timezone`,
          message: `unknown time zone '${timezone}' (use an IANA name such as 'Europe/Paris')`,
        });
        return;
      }
      const problem = cronError(String(trigger.cron), timezone);
      if (problem)
        errors.push({
          path: `${pointer}/cron`,
          message: `invalid cron expression '${String(trigger.cron)}': ${problem}`,
        });
      return;
    }
    if ('timezone' in trigger)
      errors.push({ path: `${pointer}/timezone`, message: "only cron triggers take 'timezone'" });
    if ('input' in trigger) {
      errors.push({
        path: `${pointer}/input`,
        message: "only cron triggers take 'input' (an event's input is its data)",
      });
    }
    const found = { references: [] as LocatedReference[], errors: [] as FieldError[] };
    readExpressions(trigger.condition, `${pointer}/condition`, 'expression', found);
    errors.push(...found.errors);
  });
  return errors;
}
