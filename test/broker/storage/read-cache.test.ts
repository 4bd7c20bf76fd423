import t from 'tap'
import { blob, open, readAll } from './helpers.js'

t.test('the read cache and the disk path return the same bytes', async (t) => {
  const cachedDir = t.testdir()
  const diskDir = `${cachedDir}-disk`
  const cached = open(cachedDir, { segmentBytes: 3000, indexIntervalBytes: 100, cacheBytes: 1500 })
  const disk = open(diskDir, { segmentBytes: 3000, indexIntervalBytes: 100, cacheBytes: 0 })
  t.teardown(() => disk.destroy())
  for (let b = 0; b < 50; b++) {
    const x = blob(`b${b}`, 1 + (b % 3), 10 + b * 3)
    cached.append(x.records, x.count, b)
    disk.append(x.records, x.count, b)
  }
  const total = cached.endOffset
  // Every starting point, every page size: some reads are all cache, some all disk, some cross over.
  for (const page of [1, 2, 5, 1000]) {
    for (let from = 0; from < total; from++) {
      const a = cached.read(from, page, 1 << 20)
      const b = disk.read(from, page, 1 << 20)
      const same = a.length === b.length && a.every((r, i) => r.offset === b[i]!.offset && r.timestamp === b[i]!.timestamp && r.record.equals(b[i]!.record))
      if (!same) t.fail(`from ${from} page ${page}`)
    }
  }
  t.same(readAll(cached).map((r) => r.offset), readAll(disk).map((r) => r.offset))
  t.equal(readAll(cached).length, total)
  cached.close()
})

t.test('a consumer at the tail is served from memory even when the files are gone', async (t) => {
  // Proof that tail reads never touch the disk: the cache answers after the segment file is replaced.
  const dir = t.testdir()
  const log = open(dir, { cacheBytes: 1 << 20 })
  const x = blob('tail', 3)
  log.append(x.records, 3, 1)
  const { truncateSync, readdirSync } = await import('node:fs')
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) truncateSync(`${dir}/${f}`, 0)
  const got = log.read(0, 10, 1 << 20)
  t.same(got.map((r) => r.offset), [0, 1, 2])
  t.ok(got.every((r, i) => r.record.equals(x.encoded[i]!)))
  log.close()
})
