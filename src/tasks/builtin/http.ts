import { defineTask } from '../task-type.js';

/** `http`: one HTTP request. 5xx, 429 and network errors are retryable; other 4xx are not. */
export const httpTask = defineTask({
  type: 'http',
  source: 'builtin',
  description: 'Sends an HTTP request; fails outside `expect_status` (default any 2xx).',
  inputSchema: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: {
      url: { type: 'string', format: 'uri' },
      method: { type: 'string', enum: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'], default: 'GET' },
      headers: { type: 'object', additionalProperties: { type: 'string' } },
      query: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean'] } },
      body: {},
      timeout_seconds: { type: 'number', exclusiveMinimum: 0 },
      expect_status: { type: 'array', items: { type: 'integer', minimum: 100, maximum: 599 } },
    },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { status: { type: 'integer' }, headers: { type: 'object' }, body: {} },
  },
});
