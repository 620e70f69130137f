import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
import { executionEnded, logCommitted } from '../src/engine/engine-log.js';
import { createLogger, redactUrl } from '../src/logger.js';

/** Request log lines never carry an API key given as a query parameter (browser streams). */
describe('log redaction', () => {
  it('replaces token values in URLs and keeps the rest', () => {
    assert.equal(
      redactUrl('/api/v1/stream?token=wk_secret&workflow_id=wf_1'),
      '/api/v1/stream?token=[redacted]&workflow_id=wf_1',
    );
    assert.equal(redactUrl('/x?a=1&TOKEN=abc#f'), '/x?a=1&TOKEN=[redacted]#f');
    assert.equal(redactUrl('/plain'), '/plain');
  });

  it('logs a request with ?token= without the key', async () => {
    const lines: string[] = [];
    const logger = createLogger('debug', { write: (line: string) => lines.push(line) });
    const app = Fastify({ loggerInstance: logger });
    app.get('/x', async () => 'ok');
    await app.inject({ method: 'GET', url: '/x?token=very-secret-key' });
    await app.close();
    const text = lines.join('');
    assert.match(text, /incoming request/);
    assert.equal(text.includes('very-secret-key'), false);
  });
});

/** The engine's lines (src/engine/engine-log.ts) carry ids and messages, never an event's payload. */
describe('engine log lines', () => {
  const event = (type: string, data: Record<string, unknown>, stepId: string | null = 'fetch') => ({
    id: 'evt_1',
    workspace_id: 'ws_1',
    execution_id: 'exe_1',
    type,
    step_id: stepId,
    data: JSON.stringify({ execution_id: 'exe_1', workflow_id: 'wf_1', ...data }),
    created_at: '2026-01-01T00:00:01.000Z',
  });

  it('redacts URL keys in error messages, cuts long ones, and leaves outputs out', () => {
    const lines: string[] = [];
    const logger = createLogger('info', { write: (line: string) => lines.push(line) });
    logCommitted(logger, {
      events: [
        event('step.completed', { status: 'completed', output: { secret: 'output-marker' } }),
        event('step.retrying', {
          status: 'queued',
          attempt: 1,
          error: { message: 'GET https://api.example.com/x?api_key=very-secret-key failed', retryable: true },
          next_attempt_at: '2026-01-01T00:00:02.000Z',
        }),
        event('step.failed', { status: 'failed', error: { message: 'x'.repeat(5000), retryable: false } }, 'other'),
        event('workflow.failed', { status: 'failed', output: 'output-marker', error: { message: 'failed' } }, null),
      ],
      attempts: [],
      notes: [
        {
          ...executionEnded(
            { id: 'exe_1', workspace_id: 'ws_1', workflow_id: 'wf_1', started_at: '2026-01-01T00:00:00.000Z' },
            'failed',
            '2026-01-01T00:00:01.500Z',
            { message: 'step failed: see https://hooks.example.com/?token=very-secret-key' },
          ),
        },
      ],
    });
    const text = lines.join('');
    assert.equal(text.includes('very-secret-key'), false);
    assert.equal(text.includes('output-marker'), false);
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.deepEqual(
      parsed.map((line) => line.msg),
      ['step retrying', 'step failed', 'execution failed'],
    );
    assert.equal(parsed[0]?.error, 'GET https://api.example.com/x?api_key=[redacted] failed');
    assert.equal(String(parsed[1]?.error).length, 1001, 'cut at 1,000 characters and marked');
    assert.equal(parsed[2]?.duration_ms, 1500);
    assert.equal(parsed[2]?.error, 'step failed: see https://hooks.example.com/?token=[redacted]');
  });

  it('logs failures only at warn, and nothing when silent', () => {
    const run = (level: string) => {
      const lines: string[] = [];
      const logger = createLogger(level, { write: (line: string) => lines.push(line) });
      logCommitted(logger, {
        events: [
          event('workflow.started', { status: 'running' }, null),
          event('step.retrying', { status: 'queued', attempt: 1, error: { message: 'again' } }),
          event('step.failed', { status: 'failed', error: { message: 'no' } }),
        ],
        attempts: [],
      });
      return lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    };
    assert.deepEqual(run('info'), ['execution started', 'step retrying', 'step failed']);
    assert.deepEqual(run('warn'), ['step failed']);
    assert.deepEqual(run('silent'), []);
  });
});
