import { maxHeaderSize, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger, FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { toProblem, WeftError } from '../errors.js';
import { sendProblem } from './errors.js';
import { MAX_URL_LENGTH } from './request-limits.js';

/**
 * Problem+json for the requests that never reach a route: what Node's HTTP parser refuses
 * (malformed request lines, bad or oversized headers, timeouts, an `Expect` it cannot meet) and
 * what Fastify's router refuses (`%ff` in a path, a path parameter over `maxParamLength`). Their
 * default answers are bare JSON or empty bodies; these answer with a registered code like every
 * other error.
 */

/** Node's parser error codes that mean the request head outgrew `maxHeaderSize`. */
const OVERFLOW = 'HPE_HEADER_OVERFLOW';
const TIMEOUT = 'ERR_HTTP_REQUEST_TIMEOUT';

/** What a parser error means to the client. */
function clientErrorOf(error: NodeJS.ErrnoException & { rawPacket?: Buffer }): WeftError {
  if (error.code === TIMEOUT) {
    return new WeftError('REQUEST_TIMEOUT', 'the request headers or body did not arrive in time');
  }
  if (error.code === OVERFLOW) {
    // When the request line itself (its URL) outgrew the limit, that is a 414. `rawPacket` is
    // the chunk being parsed: a request line with no end in it, or one longer than a URL may be.
    const packet = error.rawPacket;
    const lineEnd = packet ? packet.indexOf('\r\n') : -1;
    const startsRequest = packet !== undefined && /^[A-Z]+ \//.test(packet.subarray(0, 32).toString('latin1'));
    if (packet && startsRequest && (lineEnd < 0 || lineEnd > MAX_URL_LENGTH)) {
      return new WeftError('URI_TOO_LONG', `the request line is longer than the server accepts (${MAX_URL_LENGTH})`);
    }
    return new WeftError(
      'HEADERS_TOO_LARGE',
      `the request headers are larger than the server accepts (${Math.round(maxHeaderSize / 1024)} KiB)`,
    );
  }
  return new WeftError('MALFORMED_REQUEST', `the request is not valid HTTP/1.1 (${error.code ?? error.message})`);
}

/** Writes a problem+json answer directly to a socket, as Node's `clientError` event requires. */
function writeProblem(socket: Socket, error: WeftError): void {
  const body = JSON.stringify(toProblem(error));
  socket.end(
    `HTTP/1.1 ${error.status} ${STATUS_CODES[error.status] ?? 'Error'}\r\n` +
      'Content-Type: application/problem+json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** Fastify's `clientErrorHandler`: parser errors as problem+json, then the socket closes. */
export function clientErrorHandler(logger: FastifyBaseLogger): NonNullable<FastifyServerOptions['clientErrorHandler']> {
  return (error, socket) => {
    if ((error as NodeJS.ErrnoException).code === 'ECONNRESET' || socket.destroyed) return;
    const weftError = clientErrorOf(error as NodeJS.ErrnoException);
    logger.debug({ code: weftError.code, detail: weftError.message }, 'client error');
    // Like Node's own handler: answer only while no response of this socket has started.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) writeProblem(socket as Socket, weftError);
    else socket.destroy();
  };
}

/** Fastify's `frameworkErrors`: the router's refusals as problem+json. */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const weftError =
    error.code === 'FST_ERR_BAD_URL'
      ? new WeftError('MALFORMED_REQUEST', 'the path is not valid percent-encoded UTF-8', { cause: error })
      : error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? new WeftError('URI_TOO_LONG', 'a path segment (an id or name) is longer than the server accepts', {
            cause: error,
          })
        : new WeftError('INTERNAL', 'an unexpected error occurred; it has been logged', { cause: error });
  if (weftError.status >= 500) request.log.error({ err: error }, 'request failed');
  sendProblem(reply, request, weftError);
}

/** Answers an `Expect` header other than `100-continue` (Node would send a bare 417). */
export function refuseExpectation(
  _request: unknown,
  response: { writeHead(status: number, headers: Record<string, string | number>): { end(body: string): void } },
): void {
  const body = JSON.stringify(toProblem(new WeftError('EXPECTATION_FAILED', 'only Expect: 100-continue is supported')));
  response
    .writeHead(417, {
      'content-type': 'application/problem+json; charset=utf-8',
      'content-length': Buffer.byteLength(body),
      connection: 'close',
    })
    .end(body);
}
