import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { createLogger, defaultLogFormat, prettyStream } from '../src/logger.js';

/** WEFT_LOG_FORMAT: JSON lines, or pretty lines for a person (docs/logging.md). */
describe('log format', () => {
  it('defaults to pretty on a terminal and JSON anywhere else', () => {
    assert.equal(defaultLogFormat({ isTTY: true }), 'pretty');
    assert.equal(defaultLogFormat({ isTTY: false }), 'json');
    assert.equal(defaultLogFormat({}), 'json');
  });

  it('reads WEFT_LOG_FORMAT: json, pretty, or unset for the default', () => {
    assert.equal(loadConfig({}).logFormat, undefined);
    assert.equal(loadConfig({ WEFT_LOG_FORMAT: 'pretty' }).logFormat, 'pretty');
    assert.equal(loadConfig({ WEFT_LOG_FORMAT: 'JSON' }).logFormat, 'json');
    assert.throws(() => loadConfig({ WEFT_LOG_FORMAT: 'xml' }), /WEFT_LOG_FORMAT must be one of json, pretty/);
  });

  it('writes JSON lines by default to a given destination', () => {
    const lines: string[] = [];
    createLogger('info', { write: (line: string) => lines.push(line) }).info({ execution_id: 'exe_1' }, 'hello');
    const line = JSON.parse(lines[0] ?? '') as Record<string, unknown>;
    assert.equal(line.msg, 'hello');
    assert.equal(line.level, 30);
    assert.equal(line.execution_id, 'exe_1');
    assert.equal(line.service, 'weft');
  });

  it('writes pretty lines: time, level, message, key=value fields, an error stack', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) }, 'pretty');
    logger.info({ execution_id: 'exe_1', workflow_id: null, duration_ms: 412 }, 'execution completed');
    logger.warn({ step_id: 'fetch', error: 'said "no" = refused', item: { index: 2 } }, 'step failed');
    logger.error({ err: new Error('kaboom') }, 'request failed');
    assert.match(
      lines[0] ?? '',
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}execution completed execution_id=exe_1 workflow_id=null duration_ms=412\n$/,
    );
    assert.equal(
      (lines[1] ?? '').replace(/^\S+ /, ''),
      'WARN  step failed step_id=fetch error="said \\"no\\" = refused" item={"index":2}\n',
    );
    const [head, ...stack] = (lines[2] ?? '').trimEnd().split('\n');
    assert.match(head ?? '', /^\S+ ERROR request failed err=kaboom$/);
    assert.ok(stack.length > 0 && stack.every((line) => line.startsWith('    at ')), stack.join('\n'));
    assert.equal(lines.join('').includes('\u001b['), false, 'no colours off a terminal');
  });

  it('passes a line that is not JSON through, and colours levels when asked', () => {
    const out: string[] = [];
    const stream = prettyStream({ write: (text: string) => out.push(text) }, true);
    stream.write('not json\n');
    stream.write(`${JSON.stringify({ level: 40, time: Date.now(), msg: 'careful' })}\n`);
    assert.equal(out[0], 'not json\n');
    const esc = String.fromCharCode(27);
    assert.ok((out[1] ?? '').includes(`${esc}[33mWARN${esc}[0m  careful`), JSON.stringify(out[1]));
  });
});
