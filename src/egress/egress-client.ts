import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import { createRequire } from 'node:module';
import net from 'node:net';
import type { Agent, buildConnector as BuildConnector, Response } from 'undici';
import { NonRetryableError } from '../tasks/task-outcomes.js';
import { EgressRefusedError, findEgressRefusal, ResponseTooLargeError } from './egress-errors.js';
import { EgressPolicy } from './egress-policy.js';
import { normalizeHost } from './egress-rules.js';

/**
 * The one door for Weft's outbound HTTP requests. An undici Agent whose connector applies the
 * egress policy at connect time, on the address actually dialled: a host name is resolved by a
 * lookup that drops refused addresses (so a name that resolves, or is re-bound, to a private or
 * metadata address is caught), an IP literal is checked before dialling. Redirects are followed
 * here, by hand, so every hop's scheme and address go through the same checks.
 */

/** Options of one request. */
export interface EgressRequestInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Redirects followed (each hop re-checked); 0 hands a 3xx back as it is. Default 0. */
  maxRedirects?: number;
  /**
   * Whether credentials (authorization, cookie) may go to a redirect target; when not they are
   * dropped from that hop on. Default: the same origin as the first URL (the fetch standard's rule).
   */
  credentialScope?: (url: URL) => boolean;
}

/** The final answer and where it came from. */
export interface EgressResponse {
  response: Response;
  /** The URL of the last hop. */
  url: URL;
  redirects: number;
}

/** Headers that carry credentials, dropped when a redirect leaves their scope. */
const CREDENTIAL_HEADERS = ['authorization', 'cookie', 'proxy-authorization'];
/** Headers describing a body, dropped when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location'];
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

type Undici = typeof import('undici');
let undici: Undici | undefined;

/**
 * undici, loaded on the first outbound request: loading it took about 0.1 s of every start, and
 * many processes never send one.
 */
function loadUndici(): Undici {
  undici ??= createRequire(import.meta.url)('undici') as Undici;
  return undici;
}

/** An HTTP client bound to one egress policy (one connection pool per process and policy). */
export class EgressClient {
  readonly policy: EgressPolicy;
  #agentMade: Agent | undefined;

  constructor(policy: EgressPolicy = new EgressPolicy()) {
    this.policy = policy;
  }

  /** The connection pool, made on the first request. */
  get #agent(): Agent {
    this.#agentMade ??= this.#makeAgent();
    return this.#agentMade;
  }

  #makeAgent(): Agent {
    const { Agent, buildConnector } = loadUndici();
    const policy = this.policy;
    const lookup = (
      hostname: string,
      options: LookupOptions,
      callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
    ) => this.#lookup(hostname, options, callback);
    const connect = buildConnector({ lookup } as BuildConnector.BuildOptions);
    return new Agent({
      connect: (options, callback) => {
        const host = normalizeHost(options.hostname);
        // Node dials IP literals without a lookup: they are checked here instead.
        if (net.isIP(host) !== 0) {
          const decision = policy.checkAddress(host, host);
          if (!decision.allowed) return callback(new EgressRefusedError(`egress refused: ${decision.reason}`), null);
        }
        return connect(options, callback);
      },
    });
  }

  /**
   * Sends a request under the policy, following up to `maxRedirects` redirects. Throws
   * EgressRefusedError when a hop is refused, NonRetryableError past the redirect cap, and
   * fetch's own errors for network failures (retryable).
   */
  async fetch(target: string | URL, init: EgressRequestInit = {}): Promise<EgressResponse> {
    let url = new URL(target);
    const first = url;
    const inScope = init.credentialScope ?? ((next: URL) => next.origin === first.origin);
    let method = (init.method ?? 'GET').toUpperCase();
    let body = init.body;
    const headers = new Map(Object.entries(init.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]));
    const maxRedirects = init.maxRedirects ?? 0;
    for (let redirects = 0; ; redirects++) {
      const scheme = this.policy.checkScheme(url);
      if (!scheme.allowed) throw new EgressRefusedError(`egress refused: ${scheme.reason}`);
      const name = this.policy.checkHostName(url.hostname);
      if (!name.allowed) throw new EgressRefusedError(`egress refused: ${name.reason}`);
      let response: Response;
      try {
        response = await loadUndici().fetch(url, {
          method,
          headers: Object.fromEntries(headers),
          body,
          signal: init.signal,
          redirect: 'manual',
          dispatcher: this.#agent,
        });
      } catch (error) {
        throw findEgressRefusal(error) ?? error;
      }
      const location = response.headers.get('location');
      if (!REDIRECT_STATUSES.has(response.status) || location === null || maxRedirects === 0) {
        return { response, url, redirects };
      }
      await response.body?.cancel().catch(() => undefined);
      if (redirects >= maxRedirects) {
        throw new NonRetryableError(`too many redirects (more than ${maxRedirects}), the last to ${location}`);
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new NonRetryableError(`a redirect to '${location}', which is not a URL`);
      }
      // The fetch standard's method rewrite: 303 becomes GET, and so do 301/302 after a POST.
      if (
        (response.status === 303 && method !== 'HEAD') ||
        ([301, 302].includes(response.status) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
        for (const header of BODY_HEADERS) headers.delete(header);
      }
      if (!inScope(next)) for (const header of CREDENTIAL_HEADERS) headers.delete(header);
      url = next;
    }
  }

  /** Closes the connection pool (idle connections never hold the process open; this is for tidiness). */
  async close(): Promise<void> {
    await this.#agentMade?.close();
  }

  #lookup(
    hostname: string,
    options: LookupOptions,
    callback: (error: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void {
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const allowed: LookupAddress[] = [];
      let refusal: string | undefined;
      for (const entry of addresses) {
        const decision = this.policy.checkAddress(hostname, entry.address);
        if (decision.allowed) allowed.push(entry);
        else refusal ??= decision.reason;
      }
      const firstAllowed = allowed[0];
      if (!firstAllowed) {
        return callback(new EgressRefusedError(`egress refused: ${refusal ?? `${hostname} resolves to nothing`}`), []);
      }
      if (options.all) return callback(null, allowed);
      return callback(null, firstAllowed.address, firstAllowed.family);
    });
  }
}

/**
 * Reads a body whole, but never more than `maxBytes`: past the cap (or when Content-Length says
 * so up front) the connection is aborted and ResponseTooLargeError names the cap and `capName`.
 */
export async function readBodyCapped(response: Response, maxBytes: number, capName: string): Promise<Buffer> {
  const tooLarge = () =>
    new ResponseTooLargeError(`the response body is larger than ${maxBytes} bytes, the cap (${capName})`);
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!response.body) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      // Cancelling the stream destroys the connection: nothing more is received or buffered.
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, total);
}

const clients = new WeakMap<EgressPolicy, EgressClient>();
const defaultPolicy = new EgressPolicy();

/**
 * The client of a policy, made once per policy so its connection pool is shared by every request
 * under it; without a policy, the default one (private addresses allowed, no lists), for embedded
 * use that configured none.
 */
export function egressClientFor(policy: EgressPolicy = defaultPolicy): EgressClient {
  let client = clients.get(policy);
  if (!client) {
    client = new EgressClient(policy);
    clients.set(policy, client);
  }
  return client;
}
