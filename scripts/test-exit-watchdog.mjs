// Loaded with `--import` into every test file's process by scripts/run-tests.mjs. A file must exit
// by itself once its tests are done; one that leaks a server, socket, timer, pool or child
// process would keep Node's test runner waiting forever. After the file's last test (its root
// `after` hook) this starts an unref'd timer: if the process is still alive when it fires, it
// prints what is still open and exits 1, so the runner reports the file as failed instead of
// hanging. It also leaves marker files for run-tests.mjs, which kills a file whose event loop is
// too blocked to report itself.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';

/** Seconds a file may stay alive after its last test. */
const graceSeconds = Number(process.env.WEFT_TEST_EXIT_TIMEOUT_SECONDS ?? 30);
const markerDir = process.env.WEFT_TEST_WATCHDOG_DIR;
// The runner's own process loads this module too; only the per-file child processes are watched.
const isTestFileProcess = (process.env.NODE_TEST_CONTEXT ?? '').startsWith('child');

/**
 * Timers created through the global setTimeout/setInterval, with where they were created, so a
 * leaked one can be named. Recording the site is a cheap structured capture (formatted only when
 * reported); settled entries are pruned as the set grows.
 */
const timers = new Set();
const siteOf = new WeakMap();
let pruneAt = 1024;

function track(original) {
  const wrapped = function (...args) {
    const timer = original.apply(this, args);
    const site = {};
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 12;
    Error.captureStackTrace(site, wrapped);
    Error.stackTraceLimit = limit;
    siteOf.set(timer, site);
    timers.add(timer);
    if (timers.size > pruneAt) {
      for (const entry of timers) if (!isLive(entry)) timers.delete(entry);
      pruneAt = Math.max(1024, timers.size * 2);
    }
    return timer;
  };
  // util.promisify(setTimeout) keeps working.
  for (const key of Reflect.ownKeys(original)) {
    if (!(key in wrapped)) Object.defineProperty(wrapped, key, Object.getOwnPropertyDescriptor(original, key));
  }
  return wrapped;
}

function isLive(timer) {
  // `_destroyed` is set once a timeout fired or was cleared (Node's Timeout, stable since v10).
  return timer._destroyed !== true && (typeof timer.hasRef !== 'function' || timer.hasRef());
}

function describeTimers() {
  const lines = [];
  for (const timer of timers) {
    if (!isLive(timer)) continue;
    const kind = timer._repeat ? `setInterval(${timer._repeat} ms)` : `setTimeout(${timer._idleTimeout} ms)`;
    // The first frames outside Node's own code say whose timer it is.
    const frames = (siteOf.get(timer)?.stack ?? '')
      .split('\n')
      .slice(1)
      .filter((frame) => !frame.includes('(node:') && !frame.includes(' node:'))
      .slice(0, 3);
    lines.push(`${kind} created ${frames.map((frame) => frame.trim()).join(' <- ') || 'at an unknown place'}`);
  }
  return lines;
}

function describeHandles() {
  const lines = [];
  for (const handle of process._getActiveHandles()) {
    if (typeof handle.hasRef === 'function' && !handle.hasRef()) continue;
    const name = handle.constructor?.name ?? typeof handle;
    // The pipes to the test runner are the runner's, not the file's.
    if (handle === process.stdout || handle === process.stderr || handle === process.stdin) continue;
    if (name === 'Server' || typeof handle.listening === 'boolean') {
      const address = handle.address?.();
      lines.push(
        `server listening on ${typeof address === 'string' ? address : `${address?.address}:${address?.port}`}`,
      );
    } else if (name === 'Socket' || name === 'TLSSocket') {
      if (handle.remotePort === undefined && !handle.connecting) {
        lines.push(`${name} (pipe or unconnected, fd ${handle._handle?.fd ?? '?'})`);
      } else {
        const local = `${handle.localAddress}:${handle.localPort}`;
        lines.push(
          `${name} ${local} -> ${handle.remoteAddress}:${handle.remotePort}${handle.connecting ? ' (connecting)' : ''}`,
        );
      }
    } else if (name === 'ChildProcess') {
      lines.push(`child process ${handle.pid}: ${(handle.spawnargs ?? []).join(' ')}`);
    } else {
      lines.push(name);
    }
  }
  return lines;
}

/** Resource types the lines above describe one by one (or the runner's own pipes). */
const DESCRIBED = ['PipeWrap', 'TTYWrap', 'Timeout', 'TCPServerWrap', 'TCPSocketWrap', 'ProcessWrap'];

/** What keeps the process alive, one item a line. */
function openResources() {
  const active = process.getActiveResourcesInfo();
  const resources = active.filter((type) => !DESCRIBED.includes(type));
  const timerLines = describeTimers();
  // Timers made through `node:timers` or `timers/promises` imports are not wrapped: counted only.
  const unnamed = active.filter((type) => type === 'Timeout').length - timerLines.length;
  return [
    ...describeHandles(),
    ...timerLines,
    ...(unnamed > 0 ? [`${unnamed} more timer(s) made through node:timers or timers/promises`] : []),
    ...(resources.length > 0 ? [`resources: ${resources.join(', ')}`] : []),
  ];
}

/** CPU milliseconds of this process and of its children that have ended (Linux; 0 elsewhere). */
function cpuMilliseconds() {
  try {
    // Fields 14-17 of /proc/self/stat, after the command name in parentheses: utime, stime,
    // cutime, cstime, in clock ticks (100 a second on Linux).
    const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
    return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks) * 10, 0);
  } catch {
    return 0;
  }
}

/** A compiled test file (scripts/compile-tests.mjs) named as its source, as the person reading the report knows it. */
function sourceName(file) {
  const compiled = /^\.test-build[\\/]run-\d+[\\/](.*)\.js$/.exec(file);
  return compiled ? `${compiled[1]}.ts` : file;
}

function marker(state) {
  if (!markerDir) return undefined;
  return path.join(markerDir, `${process.pid}.${state}`);
}

if (isTestFileProcess) {
  globalThis.setTimeout = track(globalThis.setTimeout);
  globalThis.setInterval = track(globalThis.setInterval);
  const file = sourceName(path.relative(process.cwd(), process.argv[1] ?? '?'));
  if (markerDir) {
    mkdirSync(markerDir, { recursive: true });
    writeFileSync(marker('running'), file);
    process.on('exit', () => {
      rmSync(marker('running'), { force: true });
      rmSync(marker('done'), { force: true });
      // The file's whole life, start-up included, and the CPU it and its ended child processes
      // used, for the runner's list of the slowest files.
      writeFileSync(marker('time'), `${Math.round(process.uptime() * 1000)}\t${cpuMilliseconds()}\t${file}`);
    });
  }

  after(() => {
    if (markerDir) writeFileSync(marker('done'), `${Date.now()}\n${file}`);
    const watchdog = setTimeout(() => {
      const open = openResources();
      const report =
        `✖ ${file} has not exited ${graceSeconds} s after its last test; still open:\n` +
        (open.length > 0 ? open : ['(nothing Node reports: a native handle or a pending hook)'])
          .map((line) => `    ${line}`)
          .join('\n');
      process.stderr.write(`\n${report}\n`);
      // Kept for the runner's closing summary (the lines above may be far up in the output).
      if (markerDir) writeFileSync(marker('report'), report);
      process.exit(1);
    }, graceSeconds * 1000);
    watchdog.unref();
    timers.delete(watchdog);
  });
}
