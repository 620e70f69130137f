import http from 'node:http';

/**
 * The tests' HTTP client: node:http over keep-alive connections instead of `fetch`. The suite
 * sends tens of thousands of requests, and without V8's optimising compiler (the runner's
 * `--no-opt`) fetch's WHATWG streams cost about 0.45 ms of CPU a request against 0.1 ms here.
 * It sends what fetch sent (`accept: *\/*`, a text/plain type for a text body without one), so
 * the server sees the same requests. Idle connections do not keep a test's process alive (Node
 * unrefs an agent's free sockets).
 */
const agent = new http.Agent({ keepAlive: true });

/** A response as read whole. */
export interface HttpExchange {
  status: number;
  headers: Headers;
  text: string;
}

/** The error of a reused keep-alive connection that the server had closed (a killed process). */
function isStaleConnection(request: http.ClientRequest, error: NodeJS.ErrnoException): boolean {
  return request.reusedSocket && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
}

function exchangeOnce(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  retried: boolean,
): Promise<HttpExchange> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method, headers, agent }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('error', reject);
      response.on('end', () => {
        const received = new Headers();
        const raw = response.rawHeaders;
        for (let index = 0; index + 1 < raw.length; index += 2) received.append(raw[index] ?? '', raw[index + 1] ?? '');
        resolve({ status: response.statusCode ?? 0, headers: received, text: Buffer.concat(chunks).toString('utf8') });
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      // Node's documented pattern: a request on a kept-alive connection the server had closed is
      // sent again once, on a new connection; nothing of it reached the server.
      if (!retried && isStaleConnection(request, error)) {
        exchangeOnce(url, method, headers, body, true).then(resolve, reject);
      } else reject(error);
    });
    request.end(body);
  });
}

/** Sends one request and reads its whole answer; `headers` are lower-case names. */
export function exchange(
  target: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
): Promise<HttpExchange> {
  const upper = method.toUpperCase();
  if (body !== undefined && (upper === 'GET' || upper === 'HEAD')) {
    return Promise.reject(new TypeError(`a ${upper} request cannot have a body`));
  }
  const sent: Record<string, string> = { accept: '*/*', ...headers };
  if (body !== undefined) {
    sent['content-type'] ??= 'text/plain;charset=UTF-8';
    sent['content-length'] = String(Buffer.byteLength(body));
  }
  return exchangeOnce(new URL(target), method, sent, body, false);
}
