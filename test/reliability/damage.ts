/**
 * Ways to damage a broker's files on disk, as a crash or a bad disk would,
 * and the map of batches that says where to aim. Reads the batch framing
 * from protocol/batch.ts (baseOffset u64, length u32 at +8), nothing else.
 */
import fs from 'node:fs'
import path from 'node:path'
import { partitionDir } from '../../broker/topic-store.js'

export interface BatchSpan {
  position: number
  size: number
  baseOffset: number
}

/** The batches laid end to end in a segment file (stops at the first one that does not fit). */
export function batchesOf(file: string): BatchSpan[] {
  const buf = fs.readFileSync(file)
  const out: BatchSpan[] = []
  for (let at = 0; at + 12 <= buf.length; ) {
    const size = 12 + buf.readUInt32BE(at + 8)
    if (at + size > buf.length) break
    out.push({ position: at, size, baseOffset: Number(buf.readBigUInt64BE(at)) })
    at += size
  }
  return out
}

/** Segment files (.log) of a partition, oldest first. */
export function segmentsOf(dataDir: string, topic: string, partition = 0): string[] {
  const dir = partitionDir(dataDir, topic, partition)
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .sort()
    .map((f) => path.join(dir, f))
}

export function truncateAt(file: string, size: number): void {
  fs.truncateSync(file, size)
}

/** Flip one bit of the byte at `position` (bit = position % 8, so a sweep flips every bit lane). */
export function flipBit(file: string, position: number): void {
  const fd = fs.openSync(file, 'r+')
  try {
    const b = Buffer.alloc(1)
    fs.readSync(fd, b, 0, 1, position)
    b[0] ^= 1 << (position % 8)
    fs.writeSync(fd, b, 0, 1, position)
  } finally {
    fs.closeSync(fd)
  }
}
