import fs from 'node:fs';

/**
 * Files that hold secrets (the SQLite database with webhook signing secrets, the bootstrap key)
 * are readable by their owner only: folders 0700, files 0600, whatever the process umask.
 */

/** Mode of folders Weft creates for its data. */
export const PRIVATE_DIRECTORY_MODE = 0o700;
/** Mode of files holding data or secrets. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates `directory` (and missing parents) as 0700. An existing one owned by this user is
 * tightened to 0700, except a shared sticky folder such as `/tmp`, which is left alone: making
 * it private would break everyone else using it.
 */
export function ensurePrivateDirectorySync(directory: string): void {
  fs.mkdirSync(directory, { recursive: true, mode: PRIVATE_DIRECTORY_MODE });
  const stat = fs.statSync(directory);
  const ours = typeof process.getuid !== 'function' || stat.uid === process.getuid();
  const sticky = (stat.mode & 0o1000) !== 0;
  if (ours && !sticky && (stat.mode & 0o777) !== PRIVATE_DIRECTORY_MODE) {
    fs.chmodSync(directory, PRIVATE_DIRECTORY_MODE);
  }
}

/** Creates `file` empty as 0600 when it does not exist, so what is written to it later is never exposed. */
export function createPrivateFileSync(file: string): void {
  try {
    fs.closeSync(
      fs.openSync(file, fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY, PRIVATE_FILE_MODE),
    );
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** Sets each existing file of `files` to 0600 (files of older versions were 0644). */
export function restrictFilesSync(files: readonly string[]): void {
  for (const file of files) {
    try {
      if ((fs.statSync(file).mode & 0o777) !== PRIVATE_FILE_MODE) fs.chmodSync(file, PRIVATE_FILE_MODE);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}
