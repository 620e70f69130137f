import { RE2JS } from 're2js';

/**
 * Regular expressions inside JSONata (`/(a+)+$/`, `$match`, `$replace`, `$split`, `$contains`)
 * run through RE2JS, a JavaScript port of RE2 that matches in time linear in the input, so no
 * pattern can backtrack for seconds on the event loop. JSONata builds a RegExp for each regex
 * literal and asks its `RegexEngine` for a matcher per evaluation; this class is that engine: it
 * takes the RegExp and offers the `exec`/`lastIndex` surface JSONata uses.
 *
 * RE2 has no backreferences and no lookahead; such patterns are refused when the expression is
 * compiled (see `checkLinearPattern`).
 */
export class LinearRegExp {
  /** Where the next `exec` starts, as on a global RegExp. */
  lastIndex = 0;
  readonly #pattern: RE2JS;

  constructor(source: RegExp) {
    this.#pattern = compileLinear(source);
  }

  /** The next match from `lastIndex`, shaped like RegExp#exec's result; null when there is none. */
  exec(text: string): RegExpExecArray | null {
    const matcher = this.#pattern.matcher(text);
    if (this.lastIndex > text.length || !matcher.find(this.lastIndex)) {
      this.lastIndex = 0;
      return null;
    }
    const groups: Array<string | undefined> = [matcher.group(0) ?? ''];
    for (let group = 1; group <= matcher.groupCount(); group += 1) groups.push(matcher.group(group) ?? undefined);
    this.lastIndex = matcher.end();
    return Object.assign(groups as string[], { index: matcher.start(), input: text }) as RegExpExecArray;
  }
}

const compiled = new WeakMap<RegExp, RE2JS>();

function compileLinear(source: RegExp): RE2JS {
  let pattern = compiled.get(source);
  if (!pattern) {
    let flags = 0;
    if (source.flags.includes('i')) flags |= RE2JS.CASE_INSENSITIVE;
    if (source.flags.includes('m')) flags |= RE2JS.MULTILINE;
    if (source.flags.includes('s')) flags |= RE2JS.DOTALL;
    pattern = RE2JS.compile(RE2JS.translateRegExp(source), flags);
    compiled.set(source, pattern);
  }
  return pattern;
}

/**
 * Compiles a pattern the way it will run (JavaScript syntax, given flags) and returns why it cannot
 * run in linear time, or undefined when it can.
 */
export function checkLinearPattern(source: RegExp | string, flags = ''): string | undefined {
  try {
    compileLinear(typeof source === 'string' ? new RegExp(source, flags) : source);
    return undefined;
  } catch (error) {
    const reason = (error as Error).message || String(error);
    return `the regular expression cannot run in linear time (backreferences and lookaround are not supported): ${reason}`;
  }
}

/** What Ajv's `code.regExp` option takes: a factory of testers, named for generated code. */
export interface PatternTesterFactory {
  (pattern: string, flags: string): { test(text: string): boolean };
  code: string;
}

/** A RegExp-like tester for JSON Schema `pattern` (Ajv's `code.regExp` option), linear in the input. */
export const linearPatternTester: PatternTesterFactory = Object.assign(
  (pattern: string, flags: string) => {
    const source = new RegExp(pattern, flags);
    const refusal = checkLinearPattern(source);
    // Ajv reports the thrown message at the schema: say why the pattern is refused.
    if (refusal) throw new Error(refusal);
    const compiledPattern = compileLinear(source);
    // Ajv keys its compiled patterns by toString(), like a RegExp's.
    return { test: (text: string) => compiledPattern.matcher(text).find(0), toString: () => String(source) };
  },
  { code: 'linearPatternTester' },
);
