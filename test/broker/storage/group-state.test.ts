import t from 'tap'
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { pack } from '../../../protocol/codec.js'
import { crc32 } from 'node:zlib'
import { deleteGroupState, listGroupStates, loadGroupState, readGroupFiles, saveGroupState, saveGroupStateAsync, type GroupSnapshot } from '../../../broker/storage/group-state.js'
import { logEvents } from './helpers.js'

const first: GroupSnapshot = { next: 120, floor: 100, acked: [101, 103, 110], deliveries: [[100, 2], [102, 1], [104, 5]] }
const second: GroupSnapshot = { next: 200, floor: 150, acked: [], deliveries: [[150, 1]] }
const third: GroupSnapshot = { next: 260, floor: 250, acked: [252], deliveries: [[250, 3]], journal: 7 }

/** A state file whose body is `body` as given (no save number unless it has one), with a good header and CRC. */
function stateFile(body: Record<string, unknown>): Buffer {
  const packed = pack(body)
  const file = Buffer.alloc(16 + packed.length)
  file.write('SKGS', 0, 'latin1')
  file[4] = 1
  file.writeUInt32BE(packed.length, 8)
  file.writeUInt32BE(crc32(packed), 12)
  packed.copy(file, 16)
  return file
}

/** The snapshot one file holds, read alone (copied where loadGroupState looks, in a directory of its own beside the file's). */
function snapshotOf(file: string): GroupSnapshot | undefined {
  const alone = join(dirname(file), '..', 'alone')
  mkdirSync(alone, { recursive: true })
  writeFileSync(join(alone, 'x.state'), readFileSync(file))
  return loadGroupState(alone, 'x')
}

t.test('save then load round trips, list and delete', async (t) => {
  const dir = join(t.testdir(), 'groups')
  t.same(listGroupStates(dir), [], 'a missing dir lists nothing')
  t.equal(loadGroupState(dir, 'billing'), undefined, 'a group never saved loads as undefined')
  saveGroupState(dir, 'billing', first)
  t.same(loadGroupState(dir, 'billing'), first)
  saveGroupState(dir, 'billing', second)
  t.same(loadGroupState(dir, 'billing'), second, 'the newest save wins')
  t.ok(existsSync(join(dir, 'billing.state.prev')), 'the previous snapshot is kept')
  t.notOk(existsSync(join(dir, 'billing.state.tmp')))
  saveGroupState(dir, 'audit.v2', first)
  t.same(listGroupStates(dir), ['audit.v2', 'billing'])
  deleteGroupState(dir, 'billing')
  t.same(listGroupStates(dir), ['audit.v2'])
  t.equal(loadGroupState(dir, 'billing'), undefined)
  deleteGroupState(dir, 'billing')
})

t.test('the periodic save overwrites the file without the newest snapshot, in place, and never the newest', async (t) => {
  const dir = join(t.testdir(), 'groups')
  mkdirSync(dir)
  const cur = join(dir, 'billing.state')
  const prev = join(dir, 'billing.state.prev')
  let files = readGroupFiles(dir, 'billing')
  t.same(files, { newest: undefined, saved: 0, exists: { '.state': false, '.state.prev': false } }, 'nothing saved yet')
  files = await saveGroupStateAsync(dir, 'billing', first, files)
  t.same(loadGroupState(dir, 'billing'), first, 'the first save is loaded')
  t.notOk(existsSync(prev), 'no second file after the first save')
  t.notOk(existsSync(join(dir, 'billing.state.tmp')), 'nor a temporary one')

  files = await saveGroupStateAsync(dir, 'billing', second, files)
  t.equal(files.newest, '.state.prev', 'the second save went to the other file')
  t.same(loadGroupState(dir, 'billing'), second, 'the newest save wins, whichever file holds it')
  t.same(snapshotOf(cur), first, 'the file with the first snapshot was not touched')
  const inodes = [statSync(cur).ino, statSync(prev).ino]

  files = await saveGroupStateAsync(dir, 'billing', third, files)
  t.equal(files.newest, '.state', 'the third save went back to the first file')
  t.same(loadGroupState(dir, 'billing'), third)
  t.same(snapshotOf(prev), second, 'the second snapshot is kept in the other file')
  t.same([statSync(cur).ino, statSync(prev).ino], inodes, 'both files were written in place, not renamed')
  t.same(readGroupFiles(dir, 'billing'), files, 'what a save returns is where the snapshots are on disk')
  t.notOk(existsSync(join(dir, 'billing.state.tmp')))

  // A crash in the middle of the next save tears the file it writes, the one without the newest.
  truncateSync(prev, 10)
  t.same(loadGroupState(dir, 'billing'), third, 'a torn older file changes nothing')
  files = await saveGroupStateAsync(dir, 'billing', second, readGroupFiles(dir, 'billing'))
  t.equal(files.newest, '.state.prev', 'the next save writes over the torn file')
  t.same(snapshotOf(cur), third, 'and keeps the newest it had')
  await t.rejects(saveGroupStateAsync(join(dir, 'missing'), 'billing', first, files), { code: 'ENOENT' }, 'a missing directory is an error, not created')
})

t.test('the synchronous save keeps the newest snapshot as the previous one, whichever file held it', async (t) => {
  const dir = join(t.testdir(), 'groups')
  const cur = join(dir, 'g.state')
  const prev = join(dir, 'g.state.prev')
  saveGroupState(dir, 'g', first)
  let files = await saveGroupStateAsync(dir, 'g', second, readGroupFiles(dir, 'g'))
  t.equal(files.newest, '.state.prev', 'the periodic save put the newest in .state.prev')
  files = saveGroupState(dir, 'g', third)
  t.same(loadGroupState(dir, 'g'), third)
  t.same(snapshotOf(prev), second, '.state.prev still holds the snapshot that was newest')
  t.same(files, readGroupFiles(dir, 'g'))
  saveGroupState(dir, 'g', first)
  t.same(loadGroupState(dir, 'g'), first)
  t.same(snapshotOf(prev), third, 'a newest .state becomes .state.prev')
  t.same(snapshotOf(cur), first)
})

t.test('loading takes the higher save number; files without one (older brokers) load as before', async (t) => {
  const dir = t.testdir()
  const body = (s: GroupSnapshot, saved?: number) => stateFile(saved === undefined ? { ...s } : { ...s, saved })
  writeFileSync(join(dir, 'g.state'), body(first))
  writeFileSync(join(dir, 'g.state.prev'), body(second))
  t.same(loadGroupState(dir, 'g'), first, 'no numbers: .state, as an older broker wrote it')
  t.same(readGroupFiles(dir, 'g'), { newest: '.state', saved: 0, exists: { '.state': true, '.state.prev': true } })
  writeFileSync(join(dir, 'g.state.prev'), body(second, 1))
  t.same(loadGroupState(dir, 'g'), second, 'a numbered save beats an unnumbered one')
  writeFileSync(join(dir, 'g.state'), body(first, 9))
  t.same(loadGroupState(dir, 'g'), first, 'the higher number wins, whatever the file name')
  t.same(readGroupFiles(dir, 'g').saved, 9)
  writeFileSync(join(dir, 'g.state.prev'), body(second, 9))
  t.same(loadGroupState(dir, 'g'), first, 'a tie goes to .state')
  writeFileSync(join(dir, 'g.state'), stateFile({ ...first, saved: -1 }))
  t.same(loadGroupState(dir, 'g'), second, 'a save number that is not one makes the file bad')
  const files = await saveGroupStateAsync(dir, 'g', third, readGroupFiles(dir, 'g'))
  t.same(files, { newest: '.state', saved: 10, exists: { '.state': true, '.state.prev': true } }, 'the next save is numbered past the newest')
  t.same(loadGroupState(dir, 'g'), third)
})

t.test('large offsets survive', async (t) => {
  const dir = t.testdir()
  const big: GroupSnapshot = { next: 2 ** 52 + 7, floor: 2 ** 40, acked: [2 ** 40 + 3], deliveries: [[2 ** 40 + 1, 3]] }
  saveGroupState(dir, 'g', big)
  t.same(loadGroupState(dir, 'g'), big)
})

t.test('a torn current file falls back to the previous one, with a warning', async (t) => {
  const dir = t.testdir()
  saveGroupState(dir, 'g', first)
  saveGroupState(dir, 'g', second)
  const current = join(dir, 'g.state')
  const size = readFileSync(current).length
  for (const cut of [0, 5, 15, 16, size - 1]) {
    const events = logEvents()
    const copy = readFileSync(current)
    truncateSync(current, cut)
    t.same(loadGroupState(dir, 'g', events.log), first, `cut at ${cut}`)
    t.equal(events.events.length, 1)
    t.match(events.events[0], { level: 'warn', group: 'g' })
    writeFileSync(current, copy)
  }
  t.same(loadGroupState(dir, 'g'), second, 'intact again')
})

t.test('a flipped byte in the current file falls back to the previous one', async (t) => {
  const dir = t.testdir()
  saveGroupState(dir, 'g', first)
  saveGroupState(dir, 'g', second)
  const current = join(dir, 'g.state')
  const good = readFileSync(current)
  for (let at = 0; at < good.length; at++) {
    const bad = Buffer.from(good)
    bad[at] = bad[at]! ^ 0x10
    writeFileSync(current, bad)
    const got = loadGroupState(dir, 'g')
    if (JSON.stringify(got) !== JSON.stringify(first)) t.fail(`flip at ${at} gave ${JSON.stringify(got)}`)
  }
  t.pass(`checked ${good.length} flips`)
})

t.test('a crash between the two renames leaves the previous snapshot', async (t) => {
  const dir = t.testdir()
  saveGroupState(dir, 'g', first)
  // What a crash after "current -> prev" and before "tmp -> current" leaves behind.
  renameSync(join(dir, 'g.state'), join(dir, 'g.state.prev'))
  writeFileSync(join(dir, 'g.state.tmp'), 'half')
  t.same(loadGroupState(dir, 'g'), first)
  t.same(listGroupStates(dir), ['g'])
  saveGroupState(dir, 'g', second)
  t.same(loadGroupState(dir, 'g'), second)
})

t.test('both files bad, or a body of the wrong shape, start fresh without throwing', async (t) => {
  const dir = t.testdir()
  saveGroupState(dir, 'g', first)
  saveGroupState(dir, 'g', second)
  writeFileSync(join(dir, 'g.state'), 'garbage')
  writeFileSync(join(dir, 'g.state.prev'), Buffer.alloc(40))
  const events = logEvents()
  t.equal(loadGroupState(dir, 'g', events.log), undefined)
  t.match(events.events, [{ level: 'warn', msg: 'group state unreadable, starting fresh' }])

  // A valid header and CRC around a body that is not a snapshot.
  writeFileSync(join(dir, 'h.state'), stateFile({ next: 'soon', floor: -1, acked: 'x', deliveries: [[1]] }))
  t.equal(loadGroupState(dir, 'h'), undefined)
})

t.test('group names that are not valid names are refused', async (t) => {
  const dir = t.testdir()
  t.throws(() => saveGroupState(dir, '../escape', first), { codeName: 'INVALID_REQUEST' })
  t.throws(() => loadGroupState(dir, 'a/b'), { codeName: 'INVALID_REQUEST' })
})
