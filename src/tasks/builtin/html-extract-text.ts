import { NonRetryableError } from '../task-outcomes.js';
import { defineTask } from '../task-type.js';

/** `html.extract_text`: the main readable text of an HTML page. */
export const htmlExtractTextTask = defineTask({
  type: 'html.extract_text',
  source: 'builtin',
  description: 'Extracts the title and main readable text of an HTML document.',
  inputSchema: {
    type: 'object',
    required: ['html'],
    additionalProperties: false,
    properties: { html: { type: 'string' }, url: { type: 'string' } },
  },
  outputSchema: {
    type: 'object',
    additionalProperties: false,
    properties: { title: { type: ['string', 'null'] }, text: { type: 'string' } },
  },
  handler: async (input) => {
    const { html } = input as { html: unknown };
    if (typeof html !== 'string') throw new NonRetryableError('html.extract_text: input.html must be a string');
    // Loaded on first use: the DOM library costs a quarter of a second at every process start.
    const [{ Readability }, { parseHTML }] = await Promise.all([import('@mozilla/readability'), import('linkedom')]);
    const { document } = parseHTML(html);
    // Readability mutates the document it reads; the one parsed here is ours alone.
    const article = new Readability(document as unknown as ConstructorParameters<typeof Readability>[0]).parse();
    const fallbackText = (document.body?.textContent ?? '').replace(/\s+/g, ' ').trim();
    const text = (article?.textContent ?? fallbackText)
      .replace(/[ \t]+/g, ' ')
      .replace(/\n\s*\n+/g, '\n\n')
      .trim();
    return { title: article?.title || document.title || null, text };
  },
});
