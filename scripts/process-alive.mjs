// Whether a process still runs, for the test runner's clean-ups of runs and files that died.

/** True while the process `pid` exists (also when it is another user's and may not be signalled). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}
