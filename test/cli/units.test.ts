/** Human units for the CLI's text output (cli/commands/units.ts). */
import t from 'tap'
import { formatBytes, formatDuration } from '../../cli/commands/units.js'

t.test('durations', async (t) => {
  const cases: [number, string][] = [
    [0, '0 ms'],
    [1, '1 ms'],
    [250, '250 ms'],
    [0.5, '0.5 ms'],
    [1000, '1 s'],
    [1500, '1.5 s'],
    [59_999, '59.999 s'],
    [60_000, '1 min'],
    [61_500, '1 min 1.5 s'],
    [5_400_000, '1 h 30 min'],
    [3_600_000, '1 h'],
    [86_400_000, '1 day'],
    [604_800_000, '7 days'],
    [90_061_000, '1 day 1 h 1 min 1 s'],
    [30 * 86_400_000, '30 days'],
  ]
  for (const [ms, want] of cases) t.equal(formatDuration(ms), want, `${ms} ms`)
  t.equal(formatDuration(-5), '-5 ms', 'a negative value is shown as it is')
  t.equal(formatDuration(Number.NaN), 'NaN ms')
})

t.test('sizes', async (t) => {
  const cases: [number, string][] = [
    [0, '0 bytes'],
    [1, '1 byte'],
    [512, '512 bytes'],
    [1023, '1023 bytes'],
    [1024, '1 KiB'],
    [1536, '1.5 KiB'],
    [1_048_575, '1 MiB'],
    [1_048_576, '1 MiB'],
    [67_108_864, '64 MiB'],
    [1.5 * 2 ** 30, '1.5 GiB'],
    [1_431_655_765, '1.33 GiB'],
    [2 ** 40, '1 TiB'],
    [2 ** 70, '1024 EiB'],
  ]
  for (const [n, want] of cases) t.equal(formatBytes(n), want, `${n} bytes`)
  t.equal(formatBytes(-1), '-1 bytes')
})
