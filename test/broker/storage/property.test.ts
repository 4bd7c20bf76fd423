import t from 'tap'
import fc from 'fast-check'
import { rmSync, statSync, truncateSync } from 'node:fs'
import { join } from 'node:path'
import { blob, open, segmentFiles, tempDir } from './helpers.js'

t.test('whatever the batch and segment sizes, everything appended reads back in order after reopen', async (t) => {
  const dirs: string[] = []
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
  fc.assert(
    fc.property(
      fc.array(fc.record({ count: fc.integer({ min: 1, max: 6 }), size: fc.integer({ min: 0, max: 400 }) }), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 64, max: 3000 }),
      fc.integer({ min: 1, max: 600 }),
      fc.constantFrom(0, 500, 1 << 20),
      fc.integer({ min: 1, max: 9 }),
      fc.constantFrom(1, 300, 1 << 20),
      (batches, segmentBytes, indexIntervalBytes, cacheBytes, page, maxBytes) => {
        const dir = tempDir('skiff-prop-')
        dirs.push(dir)
        const opts = { segmentBytes, indexIntervalBytes, cacheBytes }
        const expected: Buffer[] = []
        let log = open(dir, opts)
        batches.forEach((b, i) => {
          const x = blob(`p${i}`, b.count, b.size)
          if (log.append(x.records, x.count, i) !== expected.length) throw new Error('wrong base offset')
          expected.push(...x.encoded)
        })
        const check = (label: string) => {
          const got: Buffer[] = []
          for (let next = 0, guard = 0; next < log.endOffset && guard < 10_000; guard++) {
            const recs = log.read(next, page, maxBytes)
            if (recs.length === 0 || recs[0]!.offset !== next) throw new Error(`${label}: read(${next}) gave ${recs[0]?.offset}`)
            for (const r of recs) got.push(r.record)
            next = recs[recs.length - 1]!.offset + 1
          }
          if (got.length !== expected.length || !got.every((r, i) => r.equals(expected[i]!))) throw new Error(`${label}: records differ`)
        }
        check('before reopen')
        log.close()
        log = open(dir, opts)
        if (log.endOffset !== expected.length) throw new Error(`endOffset ${log.endOffset} after reopen`)
        check('after reopen')
        if (log.stats().corrupt.length !== 0) throw new Error('a clean log reported damage')
        log.close()
        rmSync(dir, { recursive: true, force: true })
      },
    ),
    { numRuns: 60 },
  )
  t.pass('property held')
})

t.test('a crash that cuts the last segment anywhere leaves a prefix of what was appended', async (t) => {
  const dirs: string[] = []
  t.teardown(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })))
  fc.assert(
    fc.property(
      fc.array(fc.record({ count: fc.integer({ min: 1, max: 4 }), size: fc.integer({ min: 0, max: 200 }) }), { minLength: 1, maxLength: 30 }),
      fc.integer({ min: 200, max: 2000 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (batches, segmentBytes, cutAt) => {
        const dir = tempDir('skiff-prop-')
        dirs.push(dir)
        const opts = { segmentBytes, indexIntervalBytes: 100 }
        const expected: Buffer[] = []
        let log = open(dir, opts)
        batches.forEach((b, i) => {
          const x = blob(`c${i}`, b.count, b.size)
          log.append(x.records, x.count, i)
          expected.push(...x.encoded)
        })
        log.close()
        const last = join(dir, segmentFiles(dir).at(-1)!)
        const size = statSync(last).size
        truncateSync(last, Math.floor(size * cutAt))
        log = open(dir, opts)
        const got = log.read(0, 100_000, 1 << 30)
        if (got.length !== log.endOffset) throw new Error(`read ${got.length} records, endOffset ${log.endOffset}`)
        if (!got.every((r, i) => r.offset === i && r.record.equals(expected[i]!))) throw new Error('not a prefix')
        const x = blob('next', 1)
        if (log.append(x.records, 1, 0) !== got.length) throw new Error('append after recovery got the wrong offset')
        log.close()
        rmSync(dir, { recursive: true, force: true })
      },
    ),
    { numRuns: 60 },
  )
  t.pass('property held')
})
