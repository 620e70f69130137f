/** Values in the text columns of steps (`input`, `output`, `error`): JSON, or SQL null. */

/** A value as column text; `undefined` is stored as null. */
export const jsonText = (value: unknown): string | null => (value === undefined ? null : JSON.stringify(value));

/** Column text as a value; null stays null. */
export const parseJsonText = (text: string | null): unknown => (text === null ? null : JSON.parse(text));
