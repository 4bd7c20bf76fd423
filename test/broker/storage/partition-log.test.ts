import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { batchesIn, blob, open, readAll, segmentFiles } from './helpers.js'

t.test('append and read round trip across several segment rolls', async (t) => {
  const dir = t.testdir()
  const log = open(dir, { segmentBytes: 1024, indexIntervalBytes: 128 })
  const expected: Buffer[] = []
  for (let b = 0; b < 60; b++) {
    const x = blob(`b${b}`, 1 + (b % 4), 20 + b)
    t.equal(log.append(x.records, x.count, 1000 + b), expected.length, `batch ${b} gets the next offset`)
    expected.push(...x.encoded)
  }
  log.sync()
  t.equal(log.endOffset, expected.length)
  t.equal(log.durableOffset, expected.length)
  t.equal(log.startOffset, 0)
  const files = segmentFiles(dir)
  t.ok(files.length >= 5, `rolled into ${files.length} segments`)
  t.equal(log.stats().segments, files.length)
  // Every segment is named after its first batch's base offset and stays within segmentBytes.
  for (const f of files) {
    const batches = batchesIn(join(dir, f))
    t.equal(batches[0]!.baseOffset, Number(f.slice(0, 20)), `${f} starts with its base offset`)
    t.ok(batches.reduce((n, b) => n + b.size, 0) <= 1024, `${f} within segmentBytes`)
  }
  const all = readAll(log, 0, 7)
  t.same(all.map((r) => r.offset), expected.map((_, i) => i))
  t.ok(all.every((r, i) => r.record.equals(expected[i]!)), 'records come back byte for byte')
  log.close()
})

t.test('reopen keeps every record, the end offset and the timestamps', async (t) => {
  const dir = t.testdir()
  let log = open(dir, { segmentBytes: 2048 })
  const expected: Buffer[] = []
  for (let b = 0; b < 40; b++) {
    const x = blob(`r${b}`, 3, 40)
    log.append(x.records, x.count, 5000 + b * 10)
    expected.push(...x.encoded)
  }
  const before = readAll(log)
  log.close()
  log = open(dir, { segmentBytes: 2048 })
  t.equal(log.endOffset, expected.length)
  t.equal(log.startOffset, 0)
  const after = readAll(log)
  t.same(after.map((r) => [r.offset, r.timestamp]), before.map((r) => [r.offset, r.timestamp]))
  t.ok(after.every((r, i) => r.record.equals(expected[i]!)))
  const x = blob('more', 2)
  t.equal(log.append(x.records, 2, 9999), expected.length, 'appends continue after the last offset')
  log.close()
})

t.test('read honours fromOffset, maxRecords and maxBytes', async (t) => {
  const dir = t.testdir()
  const log = open(dir, { cacheBytes: 0 })
  const x = blob('a', 10, 100)
  log.append(x.records, 10, 1)
  const rec = x.encoded[0]!.length
  t.same(log.read(3, 4, 1 << 20).map((r) => r.offset), [3, 4, 5, 6])
  t.same(log.read(3, 100, rec * 2).map((r) => r.offset), [3, 4], 'stops before passing maxBytes')
  t.same(log.read(3, 100, 1).map((r) => r.offset), [3], 'one record even when larger than maxBytes')
  t.same(log.read(10, 5, 1000), [], 'nothing at the end')
  t.same(log.read(0, 0, 1000), [], 'maxRecords 0 reads nothing')
  t.same(log.read(-5, 1, 1000).map((r) => r.offset), [0], 'below the start reads from the start')
  log.close()
})

t.test('records handed out stay valid after more reads and appends', async (t) => {
  const dir = t.testdir()
  const log = open(dir, { cacheBytes: 0, segmentBytes: 4096 })
  const x = blob('keep', 20, 50)
  log.append(x.records, 20, 1)
  const first = log.read(0, 20, 1 << 20)
  const copies = first.map((r) => Buffer.from(r.record))
  for (let i = 0; i < 50; i++) {
    const y = blob(`other${i}`, 5, 50)
    log.append(y.records, 5, 2)
    log.read(i, 30, 1 << 20)
  }
  t.ok(first.every((r, i) => r.record.equals(copies[i]!)))
  log.close()
})

t.test('timestamps never go backwards within a partition', async (t) => {
  const dir = t.testdir()
  const log = open(dir)
  const x = blob('t', 1)
  log.append(x.records, 1, 5000)
  log.append(x.records, 1, 3000)
  t.same(log.read(0, 2, 1000).map((r) => r.timestamp), [5000, 5000])
  log.close()
})

t.test('append refuses a blob that does not hold count records', async (t) => {
  const dir = t.testdir()
  const log = open(dir)
  const x = blob('bad', 3)
  t.throws(() => log.append(x.records, 2, 1), { codeName: 'INVALID_REQUEST' })
  t.throws(() => log.append(x.records, 0, 1), { codeName: 'INVALID_REQUEST' })
  t.throws(() => log.append(x.records.subarray(0, x.records.length - 1), 3, 1), { codeName: 'INVALID_REQUEST' })
  t.equal(log.endOffset, 0, 'nothing was written')
  t.equal(log.sizeBytes, 0)
  log.close()
})

t.test('a batch larger than segmentBytes gets a segment of its own', async (t) => {
  const dir = t.testdir()
  const log = open(dir, { segmentBytes: 256 })
  const small = blob('s', 1, 10)
  const big = blob('b', 4, 200)
  log.append(small.records, 1, 1)
  log.append(big.records, 4, 1)
  log.append(small.records, 1, 1)
  t.same(segmentFiles(dir).map((f) => Number(f.slice(0, 20))), [0, 1, 5])
  t.same(readAll(log).map((r) => r.offset), [0, 1, 2, 3, 4, 5])
  log.close()
})

t.test('sync is a no-op when nothing was appended; close then use throws', async (t) => {
  const dir = t.testdir()
  const log = open(dir)
  log.sync()
  const x = blob('x', 1)
  log.append(x.records, 1, 1)
  t.equal(log.durableOffset, 0)
  log.sync()
  t.equal(log.durableOffset, 1)
  log.close()
  log.close()
  t.throws(() => log.append(x.records, 1, 1), { codeName: 'SHUTTING_DOWN' })
  t.throws(() => log.read(0, 1, 1), { codeName: 'SHUTTING_DOWN' })
})

t.test('destroy removes the directory', async (t) => {
  const dir = join(t.testdir(), 'p0')
  const log = open(dir)
  const x = blob('x', 1)
  log.append(x.records, 1, 1)
  t.ok(existsSync(dir))
  log.destroy()
  t.notOk(existsSync(dir))
})

t.test('the batch on disk carries producer id and base sequence', async (t) => {
  const dir = t.testdir()
  const log = open(dir)
  const x = blob('p', 2)
  log.append(x.records, 2, 1234, 77, 9)
  log.close()
  const file = readFileSync(join(dir, segmentFiles(dir)[0]!))
  t.equal(Number(file.readBigUInt64BE(32)), 77)
  t.equal(file.readUInt32BE(40), 9)
  t.equal(Number(file.readBigUInt64BE(24)), 1234)
})
