/**
 * Giving memory back when a thread goes idle (issue 14, item 8).
 *
 * Measured (bench/micro/backlog-rss.mjs, 2M confirmed 32-byte messages to 4
 * partitions, 2 workers): broker RSS went 112 -> 206 MiB and was still 192
 * MiB after 20 s idle, though the V8 heaps were back to a few MiB. The rest
 * was malloc memory of the threads' ArrayBuffers: the workers' read caches
 * (4 MiB per partition, kept forever), and buffers already dead but not yet
 * collected, because an idle isolate allocates nothing and so never runs a
 * GC. While those live, they pin the top of their malloc arena and glibc
 * cannot give back the free memory below them. glibc tunables
 * (MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_) changed
 * nothing (same bench).
 *
 * So each thread samples its own event-loop utilization once a second; after
 * IDLE_SECONDS seconds in a row below IDLE_ELU, following a second of real
 * work since the last release, it lets go of what it holds only for speed
 * (`release`: a worker empties its read caches) and runs one full GC. Then
 * glibc trims the freed arenas by itself: the same bench ends at 113 MiB.
 * It runs at most once per busy-to-idle transition, and a full GC of an
 * idle thread's small heap costs a few milliseconds, so a busy broker never
 * pays it.
 *
 * V8 offers a full GC only as `gc`, exposed by --expose-gc; the flag is set
 * here at run time and `gc` taken from a fresh context, rather than asking
 * every user to start node with it. Without it (a runtime that refuses), only
 * `release` runs.
 */
import { performance } from 'node:perf_hooks'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/** Seconds of idleness before a release. */
export const IDLE_SECONDS = 10
/** Below this event-loop utilization a one-second sample counts as idle. */
const IDLE_ELU = 0.01
/** A sample at or above this counts as work since the last release. */
const BUSY_ELU = 0.05

let gcFn: (() => void) | undefined | null = null

/** V8's full GC, or undefined when this runtime refuses to expose it. */
export function fullGc(): (() => void) | undefined {
  if (gcFn !== null) return gcFn
  try {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    gcFn = typeof gc === 'function' ? () => (gc as () => void)() : undefined
  } catch {
    gcFn = undefined
  }
  return gcFn
}

export interface IdleRelease {
  stop(): void
}

/** Watch this thread's event loop; once idle after work, call `release` and run a full GC. */
export function releaseWhenIdle(release: () => void = () => {}, idleSeconds = IDLE_SECONDS): IdleRelease {
  let last = performance.eventLoopUtilization()
  let idleFor = 0
  let worked = false
  const timer = setInterval(() => {
    const now = performance.eventLoopUtilization()
    const elu = performance.eventLoopUtilization(now, last).utilization
    last = now
    if (elu >= BUSY_ELU) worked = true
    idleFor = elu < IDLE_ELU ? idleFor + 1 : 0
    if (!worked || idleFor < idleSeconds) return
    worked = false
    idleFor = 0
    release()
    fullGc()?.()
  }, 1000)
  // Never the reason a thread (or a test) stays alive.
  timer.unref()
  return { stop: () => clearInterval(timer) }
}
