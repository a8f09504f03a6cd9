/**
 * Just enough POSIX ustar (POSIX.1-1988, as GNU and bsdtar read it) for furrow backups: regular files
 * and directories, names split over `prefix`/`name`, no links. A backup is then inspectable with `tar -tf`
 * and restorable by hand if furrow itself is gone.
 */
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { InputError } from '../errors.ts';

const BLOCK = 512;
const CHUNK = 1 << 20;

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, size: number, mode: number, mtimeS: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`path too long for a ustar archive: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  h.write(base, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(Math.floor(mtimeS), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  h.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** Writes an archive to a file descriptor, file by file, streaming (a blob is never held whole in memory). */
export class TarWriter {
  private readonly buf = Buffer.alloc(CHUNK);

  constructor(private readonly fd: number) {}

  /** Copies `path` into the archive as `name`; returns its SHA-256 and size as read. */
  addFile(name: string, path: string, mode: number, mtimeMs: number, size: number): { sha256: string; size: number } {
    writeSync(this.fd, header(name, size, mode, mtimeMs / 1000, '0'));
    const hash = createHash('sha256');
    const src = openSync(path, 'r');
    let done = 0;
    try {
      while (done < size) {
        const n = readSync(src, this.buf, 0, Math.min(CHUNK, size - done), done);
        if (n === 0) throw new Error(`${path} shrank while it was being archived`);
        hash.update(this.buf.subarray(0, n));
        writeSync(this.fd, this.buf, 0, n);
        done += n;
      }
    } finally {
      closeSync(src);
    }
    this.pad(size);
    return { sha256: hash.digest('hex'), size };
  }

  addBuffer(name: string, data: Buffer, mode = 0o644): void {
    writeSync(this.fd, header(name, data.length, mode, Date.now() / 1000, '0'));
    writeSync(this.fd, data);
    this.pad(data.length);
  }

  /** Two zero blocks end the archive; fsync so a finished backup survives a power cut. */
  finish(): void {
    writeSync(this.fd, Buffer.alloc(2 * BLOCK));
    fsyncSync(this.fd);
  }

  private pad(size: number): void {
    const rest = size % BLOCK;
    if (rest) writeSync(this.fd, Buffer.alloc(BLOCK - rest));
  }
}

export interface TarEntry {
  name: string;
  size: number;
  mode: number;
  type: 'file' | 'dir';
}

function field(h: Buffer, off: number, len: number): string {
  const raw = h.subarray(off, off + len);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul < 0 ? len : nul).toString('utf8');
}

function num(h: Buffer, off: number, len: number, what: string, archive: string): number {
  const t = field(h, off, len).trim();
  if (!/^[0-7]*$/.test(t)) throw new InputError('BACKUP_CORRUPT', `${archive}: bad ${what} field in a tar header`);
  return t === '' ? 0 : parseInt(t, 8);
}

/**
 * Reads an archive entry by entry; `onFile` receives each file's bytes in chunks. Anything but regular files
 * and directories (links, devices) is refused: a backup never holds them, and a link could point outside.
 */
export function readTar(fd: number, archive: string, visit: (e: TarEntry) => ((chunk: Buffer) => void) | undefined): void {
  const h = Buffer.alloc(BLOCK);
  const buf = Buffer.alloc(CHUNK);
  let pos = 0;
  for (;;) {
    const n = readSync(fd, h, 0, BLOCK, pos);
    if (n < BLOCK) throw new InputError('BACKUP_CORRUPT', `${archive}: ends in the middle of a tar header (truncated at byte ${pos + n})`, { hint: 'the backup file is incomplete; use another backup' });
    pos += BLOCK;
    if (h.every((b) => b === 0)) return;
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (sum !== num(h, 148, 8, 'checksum', archive)) throw new InputError('BACKUP_CORRUPT', `${archive}: tar header checksum mismatch at byte ${pos - BLOCK}`, { hint: 'the backup file is damaged; use another backup' });
    const prefix = field(h, 345, 155);
    const name = prefix ? `${prefix}/${field(h, 0, 100)}` : field(h, 0, 100);
    const type = String.fromCharCode(h[156]!);
    const size = num(h, 124, 12, 'size', archive);
    if (type !== '0' && type !== '\0' && type !== '5') throw new InputError('BACKUP_CORRUPT', `${archive}: entry ${name} is not a regular file or directory (type ${JSON.stringify(type)})`);
    const sink = visit({ name, size, mode: num(h, 100, 8, 'mode', archive), type: type === '5' ? 'dir' : 'file' });
    let left = size;
    while (left > 0) {
      const r = readSync(fd, buf, 0, Math.min(CHUNK, left), pos);
      if (r === 0) throw new InputError('BACKUP_CORRUPT', `${archive}: ${name} is cut short (truncated archive)`, { hint: 'the backup file is incomplete; use another backup' });
      sink?.(buf.subarray(0, r));
      pos += r;
      left -= r;
    }
    pos += (BLOCK - (size % BLOCK)) % BLOCK;
  }
}
