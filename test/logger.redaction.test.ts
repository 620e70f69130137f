import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Fastify from 'fastify';
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
