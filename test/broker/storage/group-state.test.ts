import t from 'tap'
import { existsSync, readFileSync, renameSync, truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pack } from '../../../protocol/codec.js'
import { crc32 } from 'node:zlib'
import { deleteGroupState, listGroupStates, loadGroupState, saveGroupState, saveGroupStateAsync, type GroupSnapshot } from '../../../broker/storage/group-state.js'
import { logEvents } from './helpers.js'

const first: GroupSnapshot = { next: 120, floor: 100, acked: [101, 103, 110], deliveries: [[100, 2], [102, 1], [104, 5]] }
const second: GroupSnapshot = { next: 200, floor: 150, acked: [], deliveries: [[150, 1]] }

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

t.test('the async save writes the same files: newest wins, previous kept, no temp left', async (t) => {
  const dir = t.testdir()
  await saveGroupStateAsync(dir, 'billing', first)
  t.same(loadGroupState(dir, 'billing'), first)
  t.notOk(existsSync(join(dir, 'billing.state.prev')), 'no previous snapshot after the first save')
  await saveGroupStateAsync(dir, 'billing', second)
  t.same(loadGroupState(dir, 'billing'), second, 'the newest save wins')
  t.notOk(existsSync(join(dir, 'billing.state.tmp')))
  truncateSync(join(dir, 'billing.state'), 10)
  t.same(loadGroupState(dir, 'billing'), first, 'a torn current snapshot falls back to the previous one')
  saveGroupState(dir, 'billing', second)
  t.same(loadGroupState(dir, 'billing'), second, 'and a synchronous save after it replaces both')
  await t.rejects(saveGroupStateAsync(join(dir, 'missing'), 'billing', first), { code: 'ENOENT' }, 'a missing directory is an error, not created')
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
  const body = pack({ next: 'soon', floor: -1, acked: 'x', deliveries: [[1]] })
  const file = Buffer.alloc(16 + body.length)
  file.write('SKGS', 0, 'latin1')
  file[4] = 1
  file.writeUInt32BE(body.length, 8)
  file.writeUInt32BE(crc32(body), 12)
  body.copy(file, 16)
  writeFileSync(join(dir, 'h.state'), file)
  t.equal(loadGroupState(dir, 'h'), undefined)
})

t.test('group names that are not valid names are refused', async (t) => {
  const dir = t.testdir()
  t.throws(() => saveGroupState(dir, '../escape', first), { codeName: 'INVALID_REQUEST' })
  t.throws(() => loadGroupState(dir, 'a/b'), { codeName: 'INVALID_REQUEST' })
})
