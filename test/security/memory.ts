/**
 * Memory figures for the attack tests, where the broker and its attackers
 * share this process: a full GC first, so a figure is what is still held,
 * not garbage waiting for the collector (an RSS peak without it moved by
 * 50 MiB from run to run with the same code).
 */
import v8 from 'node:v8'
import vm from 'node:vm'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

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
