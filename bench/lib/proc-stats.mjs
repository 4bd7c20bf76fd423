/**
 * A process's peak memory and CPU time, read from Linux /proc (the bench runs
 * the broker as a child and measures it from outside, so the broker needs no
 * bench hooks). Elsewhere these read as null and the report says "n/a".
 *
 * - Peak RSS: VmHWM in /proc/<pid>/status, the kernel's high-water mark of the
 *   resident set, in kB. Read once at the end of a run: it only ever grows.
 * - CPU: utime + stime in /proc/<pid>/stat (fields 14 and 15, in clock ticks of
 *   USER_HZ, which is 100 on every Linux that Node supports), summed over all
 *   threads of the process: the gateway, the workers and libuv's pool.
 */
import fs from 'node:fs'

const USER_HZ = 100

/** kB of VmHWM from the text of /proc/<pid>/status, or null when absent. */
export function parseStatusHwmKb(text) {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(text)
  return m ? Number(m[1]) : null
}

/**
 * CPU seconds (user + system) from the text of /proc/<pid>/stat. The second
 * field (the command name) is in parentheses and may itself hold spaces or
 * parentheses, so fields are counted from the last ')'.
 */
export function parseStatCpuSeconds(text) {
  const close = text.lastIndexOf(')')
  if (close < 0) return null
  // After ')': field 3 (state) is index 0, so utime (field 14) is index 11 and stime index 12.
  const rest = text.slice(close + 2).split(' ')
  const utime = Number(rest[11])
  const stime = Number(rest[12])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return null
  return (utime + stime) / USER_HZ
}

function readOrNull(file) {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return null
  }
}

/**
 * { peakRssMiB, cpuSeconds, mainThreadCpuSeconds } for a live pid; any may be
 * null. The main thread's task has the process's pid as its id: for the
 * broker that is the gateway; the rest of cpuSeconds is the worker threads,
 * V8's GC helpers and libuv's pool (all threads are named "node", so they
 * cannot be told apart from outside).
 */
export function sampleProcess(pid) {
  const status = readOrNull(`/proc/${pid}/status`)
  const stat = readOrNull(`/proc/${pid}/stat`)
  const mainStat = readOrNull(`/proc/${pid}/task/${pid}/stat`)
  const hwm = status === null ? null : parseStatusHwmKb(status)
  return {
    peakRssMiB: hwm === null ? null : hwm / 1024,
    cpuSeconds: stat === null ? null : parseStatCpuSeconds(stat),
    mainThreadCpuSeconds: mainStat === null ? null : parseStatCpuSeconds(mainStat),
  }
}
