/** Shared fixtures for the storage tests: record blobs, logs in temp dirs, file surgery. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, cpSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { encodeRecord } from '../../../protocol/records.js'
import { readBatchHeader } from '../../../protocol/batch.js'
import { PartitionLog, type PartitionLogOptions } from '../../../broker/storage/partition-log.js'

export interface Blob {
  records: Buffer
  count: number
  /** Each record's encoding, as read() should return it. */
  encoded: Buffer[]
}

/** `count` records whose payloads name `tag` and their index, `size` bytes each. */
export function blob(tag: string, count: number, size = 16): Blob {
  const encoded: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const text = `${tag}:${i}:`
    const payload = Buffer.alloc(Math.max(size, text.length), '.')
    payload.write(text)
    encoded.push(encodeRecord({ key: i % 2 === 0 ? `k${i}` : undefined, payload }))
  }
  return { records: Buffer.concat(encoded), count, encoded }
}

export function tempDir(prefix = 'skiff-storage-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export interface LogEvents {
  events: Record<string, unknown>[]
  log: (e: Record<string, unknown>) => void
  count(msg: string): number
}

export function logEvents(): LogEvents {
  const events: Record<string, unknown>[] = []
  return { events, log: (e) => events.push(e), count: (msg) => events.filter((e) => e.msg === msg).length }
}

export function open(dir: string, opts: Partial<PartitionLogOptions> = {}): PartitionLog {
  return PartitionLog.open({ dir, segmentBytes: 64 * 1024, retentionMs: 0, retentionBytes: 0, ...opts })
}

export function segmentFiles(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.log')).sort()
}

/** Position and size of every batch in a segment file, by walking the headers. */
export function batchesIn(file: string): { position: number; size: number; baseOffset: number; count: number }[] {
  const buf = readFileSync(file)
  const out = []
  let at = 0
  while (at < buf.length) {
    const h = readBatchHeader(buf, at)
    if (!h) break
    out.push({ position: at, size: h.size, baseOffset: h.baseOffset, count: h.count })
    at += h.size
  }
  return out
}

export function flipByte(file: string, position: number): void {
  const buf = readFileSync(file)
  buf[position] = buf[position]! ^ 0xff
  writeFileSync(file, buf)
}

export function copyDir(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true })
  cpSync(from, to, { recursive: true })
}

/** Every record from `from` on, read in pages of `page`. Bounded by `limit` pages. */
export function readAll(log: PartitionLog, from = 0, page = 1000, limit = 100_000): { offset: number; record: Buffer; timestamp: number }[] {
  const out: { offset: number; record: Buffer; timestamp: number }[] = []
  let next = from
  for (let i = 0; i < limit; i++) {
    const got = log.read(next, page, 1 << 20)
    if (got.length === 0) break
    out.push(...got)
    next = got[got.length - 1]!.offset + 1
  }
  return out
}
