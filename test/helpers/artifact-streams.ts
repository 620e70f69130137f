import { createCipheriv, createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Large artifact bodies for the multi-process tests and the bench, streamed both ways so that the
 * test process never holds more than a chunk: bytes are generated and hashed as they go out, and
 * hashed as they come back. Also samples a server process's resident memory.
 */

export const MIB = 1024 * 1024;

/** What went out or came back: byte count and hex sha256. */
export interface StreamedBytes {
  size: number;
  sha256: string;
}

/**
 * A stream of `mib` chunks of 1 MiB of pseudo-random bytes (AES-CTR of zeros: fast, and not
 * compressible or deduplicated anywhere), hashed as produced; `sent()` tells what was yielded so
 * far. `holdAfter` stops it after that many chunks until `release()` (to kill a server mid-upload).
 */
export function pseudoRandomBody(mib: number, options: { seed?: number; holdAfter?: number } = {}) {
  const key = Buffer.alloc(16, options.seed ?? 7);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(MIB);
  const hash = createHash('sha256');
  let size = 0;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  async function* chunks() {
    for (let index = 0; index < mib; index += 1) {
      if (index === options.holdAfter) await held;
      const chunk = cipher.update(zeros);
      hash.update(chunk);
      size += chunk.length;
      yield chunk;
    }
  }
  return {
    stream: Readable.from(chunks(), { objectMode: false, highWaterMark: MIB }),
    sent: (): StreamedBytes => ({ size, sha256: hash.copy().digest('hex') }),
    release: () => release(),
  };
}

/** The answer of an upload. */
export interface UploadAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers and assert on them.
  body: any;
  text: string;
}

/** PUTs a stream as an artifact (chunked unless `size` is given); rejects when the connection breaks. */
export async function putArtifact(
  baseUrl: string,
  key: string,
  executionId: string,
  name: string,
  body: Readable,
  size?: number,
): Promise<UploadAnswer> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    'content-type': 'application/octet-stream',
  };
  if (size !== undefined) headers['content-length'] = String(size);
  const request = http.request(`${baseUrl}/api/v1/executions/${executionId}/artifacts/${name}`, {
    method: 'PUT',
    headers,
  });
  const answered = new Promise<UploadAnswer>((resolve, reject) => {
    request.once('error', reject);
    request.once('response', (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (part: string) => {
        text += part;
      });
      response.once('error', reject);
      response.once('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: the text is the body
        }
        resolve({ status: response.statusCode ?? 0, body: parsed, text });
      });
    });
  });
  // The answer may come early (a 4xx), so the send's own failure is only reported through the answer.
  const sending = pipeline(body, request).catch(() => undefined);
  const answer = await answered;
  await sending;
  return answer;
}

/** GETs an artifact, hashing it as it streams in (never buffered); status, headers, size and sha256. */
export function downloadHashed(
  baseUrl: string,
  key: string,
  executionId: string,
  name: string,
): Promise<StreamedBytes & { status: number; contentLength: string | undefined }> {
  return new Promise((resolve, reject) => {
    const request = http.get(
      `${baseUrl}/api/v1/executions/${executionId}/artifacts/${name}`,
      { headers: { authorization: `Bearer ${key}` } },
      (response) => {
        const hash = createHash('sha256');
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          hash.update(chunk);
          size += chunk.length;
        });
        response.once('error', reject);
        response.once('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            contentLength: response.headers['content-length'],
            size,
            sha256: hash.digest('hex'),
          }),
        );
      },
    );
    request.once('error', reject);
  });
}

/** The resident set size of a process in bytes, from /proc (Linux). */
export function residentBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match?.[1]) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** Samples a process's RSS every `everyMs` until `stop()`, which returns the peak seen. */
export function sampleResident(pid: number, everyMs = 50) {
  let peak = residentBytes(pid);
  let samples = 1;
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, residentBytes(pid));
      samples += 1;
    } catch {
      // the process is gone (a test killed it): keep the peak seen
    }
  }, everyMs);
  return {
    stop(): { peak: number; samples: number } {
      clearInterval(timer);
      try {
        peak = Math.max(peak, residentBytes(pid));
      } catch {
        // gone
      }
      return { peak, samples };
    },
  };
}
