/**
 * The leader-epochs file of a partition (broker/storage/leader-epochs.ts),
 * with real files in a temp dir: what assign, endOffsetFor and truncateFrom
 * do, that every change is on disk when it returns, and that a damaged file
 * loads as a problem instead of throwing.
 */
import t from 'tap'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LEADER_EPOCHS_FILE, LeaderEpochs } from '../../../broker/storage/leader-epochs.js'

t.test('assign appends new epochs, ignores repeats, and each change is on disk when it returns', async (t) => {
  const dir = t.testdir()
  const epochs = LeaderEpochs.load(dir)
  t.equal(epochs.problem, 'missing')
  t.equal(epochs.latest(), undefined)
  t.notOk(existsSync(join(dir, LEADER_EPOCHS_FILE)), 'loading writes nothing')

  t.equal(epochs.assign(0, 0), true)
  t.equal(epochs.assign(0, 40), false, 'a repeat of the latest epoch changes nothing')
  t.equal(epochs.assign(3, 120), true)
  t.equal(epochs.assign(4, 120), true, 'an epoch may start where the previous one did (it wrote nothing)')
  t.equal(epochs.assign(3, 500), false, 'a repeat of an older listed epoch changes nothing')
  t.strictSame(epochs.latest(), { epoch: 4, startOffset: 120 })
  t.equal(epochs.latestEpoch, 4)

  const again = LeaderEpochs.load(dir)
  t.equal(again.problem, undefined)
  t.strictSame(again.list(), [{ epoch: 0, startOffset: 0 }, { epoch: 3, startOffset: 120 }, { epoch: 4, startOffset: 120 }])
  t.strictSame(readdirSync(dir), [LEADER_EPOCHS_FILE], 'no temporary file is left behind')
})

t.test('assign refuses an epoch older than the latest, or one starting before it', async (t) => {
  const dir = t.testdir()
  const epochs = LeaderEpochs.load(dir)
  epochs.assign(2, 50)
  t.throws(() => epochs.assign(1, 60), /older than the latest, 2/)
  t.throws(() => epochs.assign(5, 49), /would start at 49, before epoch 2/)
  t.throws(() => epochs.assign(2 ** 32, 60), RangeError)
  t.throws(() => epochs.assign(-1, 60), RangeError)
  t.throws(() => epochs.assign(6, -1), RangeError)
  t.strictSame(LeaderEpochs.load(dir).list(), [{ epoch: 2, startOffset: 50 }], 'nothing refused reached the file')
})

t.test('endOffsetFor answers as Kafka\'s OffsetsForLeaderEpoch', async (t) => {
  const epochs = LeaderEpochs.load(t.testdir())
  t.equal(epochs.endOffsetFor(0, 10), undefined, 'no entries: undefined')
  epochs.assign(1, 0)
  epochs.assign(3, 100)
  epochs.assign(6, 250)
  const logEnd = 400
  t.strictSame(epochs.endOffsetFor(6, logEnd), { epoch: 6, endOffset: 400 }, 'the latest epoch ends at the log end')
  t.strictSame(epochs.endOffsetFor(3, logEnd), { epoch: 3, endOffset: 250 }, 'a listed epoch ends where the next starts')
  t.strictSame(epochs.endOffsetFor(1, logEnd), { epoch: 1, endOffset: 100 })
  t.strictSame(epochs.endOffsetFor(4, logEnd), { epoch: 3, endOffset: 250 }, 'an unlisted epoch: the largest listed below it, ending where the next starts')
  t.strictSame(epochs.endOffsetFor(0, logEnd), { epoch: 0, endOffset: 0 }, 'below every listed epoch: it ends where the first starts')
  t.equal(epochs.endOffsetFor(7, logEnd), undefined, 'above every listed epoch: undefined')
})

t.test('truncateFrom drops the epochs starting at or after the cut, on disk too', async (t) => {
  const dir = t.testdir()
  const epochs = LeaderEpochs.load(dir)
  epochs.assign(1, 0)
  epochs.assign(2, 100)
  epochs.assign(5, 180)
  t.equal(epochs.truncateFrom(181), 0, 'a cut after every start drops nothing')
  t.equal(epochs.truncateFrom(100), 2)
  t.strictSame(LeaderEpochs.load(dir).list(), [{ epoch: 1, startOffset: 0 }])
  t.strictSame(epochs.endOffsetFor(1, 100), { epoch: 1, endOffset: 100 })
  t.equal(epochs.assign(2, 100), true, 'after a cut, an epoch that was dropped can be assigned again')
  t.equal(epochs.truncateFrom(0), 2)
  t.strictSame(LeaderEpochs.load(dir).list(), [], 'a cut at 0 leaves an empty (but present) file')
  t.equal(LeaderEpochs.load(dir).problem, undefined)
})

t.test('a damaged file loads as a problem, never throws', async (t) => {
  const dir = t.testdir()
  const epochs = LeaderEpochs.load(dir)
  epochs.assign(0, 0)
  epochs.assign(9, 70)
  const file = join(dir, LEADER_EPOCHS_FILE)
  const good = readFileSync(file)
  const cases: [string, (b: Buffer) => Buffer, RegExp][] = [
    ['a flipped byte in an entry', (b) => { b[b.length - 1]! ^= 1; return b }, /CRC mismatch/],
    ['a flipped byte in the magic', (b) => { b[0]! ^= 1; return b }, /bad magic/],
    ['an unknown version', (b) => { b[4] = 2; return b }, /unknown version 2/],
    ['a torn body', (b) => b.subarray(0, b.length - 5), /torn/],
    ['a torn header', (b) => b.subarray(0, 10), /torn/],
    ['a body that is not whole entries', (b) => { const s = Buffer.from(b.subarray(0, b.length - 1)); s.writeUInt32BE(s.length - 16, 8); return s }, /not whole entries/],
  ]
  for (const [name, damage, problem] of cases) {
    writeFileSync(file, damage(Buffer.from(good)))
    const loaded = LeaderEpochs.load(dir)
    t.match(loaded.problem, problem, name)
    t.strictSame(loaded.list(), [], `${name}: no entries are trusted`)
  }
})

t.test('entries out of order on disk are refused like damage', async (t) => {
  const dir = t.testdir()
  LeaderEpochs.rebuilt(dir, [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 10 }])
  t.throws(() => LeaderEpochs.rebuilt(dir, [{ epoch: 2, startOffset: 0 }, { epoch: 1, startOffset: 10 }]), /does not follow/)
  t.strictSame(LeaderEpochs.load(dir).list(), [{ epoch: 1, startOffset: 0 }, { epoch: 2, startOffset: 10 }], 'a refused rebuild leaves the file alone')
})
