/**
 * Where each value of a JSON text sits, by JSON Pointer (`/steps/0/type`), so that a validation
 * error's `path` can be shown at its line in the editor. A small scanner instead of a library:
 * JSON.parse gives no positions, and the format is small. Pure: unit-tested in
 * json-locations.test.ts.
 */

/** A value's place in the text: character offsets and its 1-based line. */
export interface JsonLocation {
  start: number;
  end: number;
  line: number;
}

/** A JSON syntax error with its place. */
export interface JsonSyntaxProblem {
  message: string;
  offset: number;
  line: number;
  column: number;
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/** Line and column (1-based) of an offset. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let index = 0; index < offset && index < text.length; index++) {
    if (text.charCodeAt(index) === 10) {
      line++;
      lineStart = index + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/**
 * Scans a JSON text; returns each value's location by pointer, or the first syntax problem.
 * Locations of object keys point at the value (what a validator's path names).
 */
export function locateJson(text: string): { locations: Map<string, JsonLocation>; problem: JsonSyntaxProblem | null } {
  const locations = new Map<string, JsonLocation>();
  let at = 0;
  let line = 1;
  const fail = (message: string): never => {
    const place = lineColumn(text, at);
    throw Object.assign(new Error(message), { jsonProblem: { message, offset: at, ...place } });
  };
  const skip = () => {
    while (at < text.length) {
      const char = text[at];
      if (char === '\n') line++;
      else if (char !== ' ' && char !== '\t' && char !== '\r') break;
      at++;
    }
  };
  const string = (): string => {
    if (text[at] !== '"') fail('expected a string');
    const start = at;
    at++;
    while (at < text.length && text[at] !== '"') {
      if (text[at] === '\\') at++;
      if (text[at] === '\n') fail('a string may not span lines');
      at++;
    }
    if (at >= text.length) fail('unterminated string');
    at++;
    try {
      return JSON.parse(text.slice(start, at)) as string;
    } catch {
      return fail('invalid escape in a string');
    }
  };
  const value = (pointer: string): void => {
    skip();
    const start = at;
    const startLine = line;
    const char = text[at];
    if (char === '{') {
      at++;
      skip();
      if (text[at] === '}') at++;
      else {
        for (;;) {
          skip();
          const key = string();
          skip();
          if (text[at] !== ':') fail(`expected ':' after "${key}"`);
          at++;
          value(`${pointer}/${escapePointer(key)}`);
          skip();
          if (text[at] === ',') {
            at++;
            continue;
          }
          if (text[at] === '}') {
            at++;
            break;
          }
          fail("expected ',' or '}'");
        }
      }
    } else if (char === '[') {
      at++;
      skip();
      if (text[at] === ']') at++;
      else {
        for (let index = 0; ; index++) {
          value(`${pointer}/${index}`);
          skip();
          if (text[at] === ',') {
            at++;
            continue;
          }
          if (text[at] === ']') {
            at++;
            break;
          }
          fail("expected ',' or ']'");
        }
      }
    } else if (char === '"') {
      string();
    } else {
      const match = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(at, at + 400));
      if (!match) fail(at >= text.length ? 'unexpected end of the text' : `unexpected '${text[at]}'`);
      at += match?.[0].length ?? 0;
    }
    locations.set(pointer, { start, end: at, line: startLine });
  };
  try {
    value('');
    skip();
    if (at < text.length) fail('unexpected text after the JSON value');
    return { locations, problem: null };
  } catch (error) {
    const problem = (error as { jsonProblem?: JsonSyntaxProblem }).jsonProblem;
    if (!problem) throw error;
    return { locations, problem };
  }
}

/**
 * The location of a validator's path: the value itself, or the nearest enclosing value that
 * exists (a missing field is reported at its object).
 */
export function locatePath(locations: ReadonlyMap<string, JsonLocation>, path: string): JsonLocation | undefined {
  let pointer = path === '/' ? '' : path;
  for (;;) {
    const found = locations.get(pointer);
    if (found || pointer === '') return found;
    pointer = pointer.slice(0, Math.max(0, pointer.lastIndexOf('/')));
  }
}
