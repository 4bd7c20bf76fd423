/**
 * Memory figures for the attack tests, where the broker and its attackers
 * share this process: a full GC first, so a figure is what is still held,
 * not garbage waiting for the collector (an RSS peak without it moved by
 * 50 MiB from run to run with the same code).
 */
import { fullGc } from '../../broker/memory/idle-release.js'

const gc = fullGc()!

/** RSS in MiB after a full GC. */
export function rssAfterGcMiB(): number {
  gc()
  return process.memoryUsage().rss / (1024 * 1024)
}

/** Bytes held in the JS heap and by Buffers after a full GC. */
export function heldAfterGc(): number {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.external
}
