/**
 * Where a partition's files live and how they are named. A segment is
 * `<20-digit zero-padded base offset>.log` with its sparse index beside it as
 * `<same>.idx`, so a directory listing sorted by name is sorted by offset.
 */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const SEGMENT_NAME = /^(\d{20})\.log$/

export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}.log`
}

export function indexPathFor(logPath: string): string {
  return logPath.slice(0, -'.log'.length) + '.idx'
}

/** Base offsets of the segments in `dir`, ascending. Other files are ignored. */
export function listSegmentBases(dir: string): number[] {
  const bases: number[] = []
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_NAME.exec(name)
    if (!m) continue
    const base = Number(m[1])
    // A name beyond 2^53 cannot be a segment we wrote; leave it alone.
    if (Number.isSafeInteger(base)) bases.push(base)
  }
  return bases.sort((a, b) => a - b)
}

export function segmentPaths(dir: string, baseOffset: number): { log: string; index: string } {
  const log = join(dir, segmentFileName(baseOffset))
  return { log, index: indexPathFor(log) }
}
