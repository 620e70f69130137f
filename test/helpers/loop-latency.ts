import assert from 'node:assert/strict';
import { sendRequest, type TestServer } from './api-server.js';

/**
 * Measures of how responsive the event loop stays while some work runs. Files that use these are
 * named *.serial.test.ts: the runner gives them the machine alone, and their bounds are still
 * scaled by the CPU share the process actually had.
 */

/** The value below which `share` of `values` fall (0 for none). */
export function percentile(values: number[], share: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * share))] ?? 0;
}

/**
 * Measures the share of one CPU this process got between this call and the returned function's
 * call. A process that gets a third of a core answers three times slower whatever it does, so
 * latency bounds are CPU-time bounds scaled by this share; it is floored at 0.2, so a held loop
 * still fails them.
 */
export function cpuShareMeter(): () => number {
  const cpuAtStart = process.cpuUsage();
  const wallAtStart = performance.now();
  return () => {
    const cpu = process.cpuUsage(cpuAtStart);
    const wallMs = performance.now() - wallAtStart;
    return Math.min(1, Math.max(0.2, (cpu.user + cpu.system) / 1000 / Math.max(wallMs, 1)));
  };
}

/**
 * Sends `/healthz` every 20 ms while `until` is pending; returns the 90th percentile of the answer
 * times, the longest (for reports; the scheduler alone can make one long) and the bound the 90th
 * percentile must stay under: 150 ms scaled by the CPU share the process had (on a busy machine
 * each answer also waits for a core). A held loop fails anyway: it leaves fewer than three
 * answers, or answers as slowly as the whole burn while its CPU share is high.
 */
export async function typicalHealthz(
  server: TestServer,
  until: Promise<unknown>,
): Promise<{ p90: number; worst: number; bound: number; count: number }> {
  const share = cpuShareMeter();
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const times: number[] = [];
  while (!done) {
    const started = performance.now();
    const response = await sendRequest(server.url, 'GET', '!/healthz');
    assert.equal(response.status, 200);
    times.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assert.ok(times.length >= 3, `only ${times.length} /healthz answers while the work ran`);
  const result = { p90: percentile(times, 0.9), worst: Math.max(...times), bound: 150 / share(), count: times.length };
  // The figures are worth reading in the run's log (the closing notes of issues quote them).
  console.log(
    `[healthz] ${result.count} answers: p50 ${percentile(times, 0.5).toFixed(1)} ms, p90 ${result.p90.toFixed(1)} ms, worst ${result.worst.toFixed(1)} ms (bound ${result.bound.toFixed(0)})`,
  );
  return result;
}
