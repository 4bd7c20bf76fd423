import t from 'tap'
import { blob, open, readAll } from './helpers.js'
import { RecentBatches, THREAD_CACHE_BYTES, readCacheBytes, releaseReadCaches, setThreadCacheBytes } from '../../../broker/storage/read-cache.js'

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

t.test('the read caches of a thread stay within its budget, least recently used emptied first, and can all be released', async (t) => {
  setThreadCacheBytes(3000)
  t.teardown(() => setThreadCacheBytes(THREAD_CACHE_BYTES))
  const base = t.testdir()
  const logs = [0, 1, 2].map((i) => open(`${base}-${i}`, { cacheBytes: 1500 }))
  t.teardown(() => logs.forEach((l) => l.destroy()))
  const before = readCacheBytes()
  const fill = (log: (typeof logs)[number], n: number) => {
    for (let b = 0; b < n; b++) {
      const x = blob(`b${b}`, 1, 100)
      log.append(x.records, x.count, b)
    }
  }
  fill(logs[0]!, 9)
  fill(logs[1]!, 9)
  const two = readCacheBytes() - before
  t.ok(two > 0 && two <= 3000, `two caches hold ${two} bytes`)
  readAll(logs[0]!) // logs[0] is now more recently used than logs[1]
  fill(logs[2]!, 9)
  t.ok(readCacheBytes() - before <= 3000, 'a third cache keeps the thread within its budget')
  t.comment(`cache sizes: ${logs.map((l) => (l as unknown as { s: { cache: RecentBatches } }).s.cache.sizeBytes).join(', ')}`)
  const sizes = logs.map((l) => (l as unknown as { s: { cache: RecentBatches } }).s.cache.sizeBytes)
  t.equal(sizes[1], 0, 'the least recently used cache was emptied')
  t.ok(sizes[0]! > 0 && sizes[2]! > 0, 'the others kept theirs')
  t.equal(readAll(logs[1]!).length, 9, 'its records are still read, from the file')
  releaseReadCaches()
  t.equal(readCacheBytes(), before, 'releasing empties every cache of the thread')
  t.same(readAll(logs[2]!).map((r) => r.offset), [0, 1, 2, 3, 4, 5, 6, 7, 8], 'and reads go on from the files')
})
