import t from 'tap'
// The bench is plain JavaScript (it runs without a build step); tap's loader imports it as is.
import { markdownTable, ms, num, textTable } from '../../bench/lib/format.mjs'

t.test('num and ms format for people', async (t) => {
  t.equal(num(1234567), '1,234,567')
  t.equal(num(0.5, 1), '0.5')
  t.equal(num(null), 'n/a')
  t.equal(num(Number.NaN), 'n/a')
  t.equal(ms(0.41234), '0.412')
  t.equal(ms(3.214), '3.21')
  t.equal(ms(48.24), '48.2')
  t.equal(ms(1203.4), '1,203')
  t.equal(ms(undefined), 'n/a')
})

t.test('textTable pads columns, right-aligns numbers after the first column', async (t) => {
  const out = textTable(['name', 'msgs/s', 'note'], [
    ['S1', '1,000', 'ok'],
    ['S10 long', '25', 'n/a'],
  ])
  const lines = out.split('\n')
  t.equal(lines.length, 4)
  t.equal(lines[0], 'name      msgs/s  note')
  t.equal(lines[1], '--------  ------  ----')
  t.equal(lines[2], 'S1         1,000  ok')
  t.equal(lines[3], 'S10 long      25   n/a')
})

t.test('markdownTable escapes pipes and right-aligns numeric columns', async (t) => {
  const out = markdownTable(['a', 'b', 'c'], [
    ['x|y', '1', 'text'],
    ['z', '2,000', '3'],
  ])
  t.equal(out.split('\n')[1], '| --- | ---: | --- |')
  t.match(out, /x\\\|y/)
  t.equal(out.split('\n').length, 4)
})
