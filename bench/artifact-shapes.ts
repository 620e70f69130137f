import { performance } from 'node:perf_hooks';
import {
  downloadHashed,
  MIB,
  pseudoRandomBody,
  putArtifact,
  residentBytes,
  sampleResident,
} from '../test/helpers/artifact-streams.js';
import { type Backend, createTestDatabase } from '../test/helpers/backends.js';
import { startServe } from '../test/helpers/processes.js';
import { ADMIN_KEY, api, serveEnv } from '../test/helpers/serve-restarts.js';

/**
 * Artifact shapes (issue 11): one 100 MiB artifact uploaded to and downloaded from a `weft serve`
 * child process over loopback HTTP, with the server's default durability (SQLite synchronous FULL,
 * PostgreSQL synchronous_commit on; the upload ends with an fsync of the file). A child process
 * so that its RSS is the server's alone: sampled every 50 ms, reported as the peak growth over the
 * server at rest after a small warm-up round trip. The body is generated and hashed as it streams.
 */

/** One measured artifact shape. */
export interface ArtifactShapeResult {
  shape: string;
  count: number;
  totalMs: number;
  detail: string;
}

const mbPerSecond = (bytes: number, ms: number) => `${(bytes / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
const growth = (peak: number, baseline: number) => `peak RSS +${((peak - baseline) / MIB).toFixed(1)} MiB`;

/** Upload and download of a 100 MiB artifact on one backend. */
export async function benchArtifactShapes(backend: Backend): Promise<ArtifactShapeResult[]> {
  const mib = 100;
  const database = await createTestDatabase(backend);
  const serve = await startServe(serveEnv(database, { WEFT_LOG_LEVEL: 'warn' }));
  try {
    const pid = serve.child.pid ?? 0;
    const started = await api(serve.url, 'POST', '/executions', {
      definition: { name: 'bench files', steps: [{ id: 'make', type: 'noop' }] },
      input: {},
    });
    if (started.status !== 202) throw new Error(`artifact shape: start ${started.status} ${started.text}`);
    const id: string = started.body.id;
    const warm = pseudoRandomBody(2, { seed: 1 });
    await putArtifact(serve.url, ADMIN_KEY, id, 'warm.bin', warm.stream);
    await downloadHashed(serve.url, ADMIN_KEY, id, 'warm.bin');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const baseline = residentBytes(pid);

    const body = pseudoRandomBody(mib);
    const uploading = sampleResident(pid);
    const upStart = performance.now();
    const put = await putArtifact(serve.url, ADMIN_KEY, id, 'big.bin', body.stream, mib * MIB);
    const upMs = performance.now() - upStart;
    const up = uploading.stop();
    if (put.status !== 201 || put.body.sha256 !== body.sent().sha256) {
      throw new Error(`artifact shape: upload ${put.status} ${put.text.slice(0, 500)}`);
    }

    const downloading = sampleResident(pid);
    const downStart = performance.now();
    const got = await downloadHashed(serve.url, ADMIN_KEY, id, 'big.bin');
    const downMs = performance.now() - downStart;
    const down = downloading.stop();
    if (got.status !== 200 || got.sha256 !== body.sent().sha256) {
      throw new Error(`artifact shape: download ${got.status}, ${got.size} bytes, sha256 differs`);
    }
    const bytes = mib * MIB;
    return [
      {
        shape: `PUT ${mib} MiB artifact`,
        count: 1,
        totalMs: upMs,
        detail: `${mbPerSecond(bytes, upMs)}, ${growth(up.peak, baseline)}`,
      },
      {
        shape: `GET ${mib} MiB artifact`,
        count: 1,
        totalMs: downMs,
        detail: `${mbPerSecond(bytes, downMs)}, ${growth(down.peak, baseline)}`,
      },
    ];
  } finally {
    await serve.stop('SIGKILL');
    await database.drop();
  }
}
