import t from 'tap'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import { parseStatCpuSeconds, parseStatusHwmKb, sampleProcess } from '../../bench/lib/proc-stats.mjs'

t.test('VmHWM is read from /proc/<pid>/status text', async (t) => {
  const status = 'Name:\tnode\nVmPeak:\t 1200000 kB\nVmHWM:\t  153600 kB\nVmRSS:\t  100000 kB\n'
  t.equal(parseStatusHwmKb(status), 153600)
  t.equal(parseStatusHwmKb('Name:\tkthreadd\n'), null)
})

t.test('utime + stime come from the fields after the command name, even one with spaces and parentheses', async (t) => {
  // Fields after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const rest = 'S 1 2 3 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 11 0 100 0 0'
  t.equal(parseStatCpuSeconds(`1234 (node) ${rest}`), 3)
  t.equal(parseStatCpuSeconds(`1234 (my (odd) name) ${rest}`), 3)
  t.equal(parseStatCpuSeconds('garbage'), null)
})

t.test('a live process reports its peak RSS and CPU time on Linux', { skip: process.platform !== 'linux' && 'needs /proc' }, async (t) => {
  const s = sampleProcess(process.pid)
  t.ok(s.peakRssMiB > 1, `peak RSS ${s.peakRssMiB} MiB`)
  t.ok(s.cpuSeconds >= 0, `cpu ${s.cpuSeconds} s`)
  t.ok(s.mainThreadCpuSeconds >= 0 && s.mainThreadCpuSeconds <= s.cpuSeconds, 'the main thread is part of the process')
  const gone = sampleProcess(2 ** 22 + 12345)
  t.same(gone, { peakRssMiB: null, cpuSeconds: null, mainThreadCpuSeconds: null })
})
