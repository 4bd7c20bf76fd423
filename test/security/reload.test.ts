/**
 * SIGHUP re-reads the auth file without dropping connections that are still
 * allowed: new users get in, removed or re-keyed users are cut off, changed
 * permissions apply to open connections, a subscription the new rules forbid
 * ends its connection, and a broken file changes nothing. Entries that expire
 * while connected are cut off too.
 */
import t from 'tap'
import fs from 'node:fs'
import { encodePublish, encodeRecord, encodeSubscribe, encodePing, Op } from '../../protocol/index.js'
import { TOKENS, answer, authBroker, login, welcomed, writeAuthFile, type RawPeer } from './helpers.js'

const record = encodeRecord({ payload: Buffer.from('x') })
let corr = 1
const publish = (p: RawPeer, topic: string) => {
  const c = corr++
  p.write(encodePublish({ corr: c, topic, count: 1, records: record, confirm: true }))
  return answer(p, c)
}

async function hangup(): Promise<void> {
  process.kill(process.pid, 'SIGHUP')
  await new Promise((r) => setTimeout(r, 200)) // the handler runs on the next turns of the event loop
}

const LATE = 'late-token-0123456789abcdef'
const TEMP = 'temp-token-0123456789abcdef'

t.test('SIGHUP reload', async (t) => {
  const { broker, authFile } = await authBroker(t, [
    { name: 'app', token: TOKENS.app, publish: ['orders.>'] },
    { name: 'reader', token: TOKENS.reader, subscribe: ['orders.>'] },
    { name: 'temp', token: TEMP, publish: ['orders.>'] },
  ])
  const app = await login(broker.port, TOKENS.app)
  const reader = await login(broker.port, TOKENS.reader)
  const temp = await login(broker.port, TEMP)
  t.ok(welcomed(app) && welcomed(reader) && welcomed(temp), 'all logged in')
  reader.write(encodeSubscribe({ corr: 500, sub: 1, topic: 'orders.x', group: 'g', start: 'latest', maxInFlight: 10 }))
  t.match(await answer(reader, 500), { ok: true }, 'reader subscribed')
  t.match(await publish(app, 'orders.x'), { ok: true })
  t.match(await login(broker.port, LATE).then((p) => p.errors()), [{ name: 'UNAUTHORIZED' }], 'late is not a user yet')

  writeAuthFile(authFile, [
    { name: 'app', token: TOKENS.app, publish: ['billing.>'] },
    { name: 'reader', token: TOKENS.reader, subscribe: ['audit'] },
    { name: 'late', token: LATE, publish: ['orders.>'] },
  ])
  await hangup()

  t.test('a user still in the file keeps its connection, with the new permissions', async (t) => {
    t.notOk(app.closed, 'app is still connected')
    t.match(await publish(app, 'orders.x'), { ok: false, error: 'FORBIDDEN' }, 'its old grant is gone')
    t.match(await publish(app, 'billing.x'), { ok: true }, 'its new one works')
    t.notOk(app.closed)
  })

  t.test('a subscription the new rules forbid ends its connection', async (t) => {
    t.ok(await reader.waitClosed(2000), 'reader was disconnected')
    t.match(reader.errors(), [{ name: 'UNAUTHORIZED', message: /may no longer subscribe to topic orders.x/ }])
  })

  t.test('a removed user is cut off and its token no longer works', async (t) => {
    t.ok(await temp.waitClosed(2000), 'temp was disconnected')
    t.match(temp.errors(), [{ name: 'UNAUTHORIZED', message: /revoked/ }])
    t.match((await login(broker.port, TEMP)).errors(), [{ name: 'UNAUTHORIZED' }])
  })

  t.test('a new user gets in', async (t) => {
    const late = await login(broker.port, LATE)
    t.ok(welcomed(late))
    t.match(await publish(late, 'orders.late'), { ok: true })
    late.end()
  })

  t.test('a broken file changes nothing', async (t) => {
    fs.writeFileSync(authFile, '{ "users": [ { "name": "app", "token": ')
    await hangup()
    t.notOk(app.closed, 'app is still connected')
    t.match(await publish(app, 'billing.y'), { ok: true }, 'with the permissions of the last good file')
    t.ok(welcomed(await login(broker.port, LATE)), 'and late still gets in')
    fs.writeFileSync(authFile, JSON.stringify({ users: [{ name: 'app', token: TOKENS.app, publish: ['billing.>'], pubish: [] }] }))
    await hangup()
    t.ok(welcomed(await login(broker.port, LATE)), 'an unknown key refuses the whole file too')
  })

  t.test('a changed token ends the connections made with the old one', async (t) => {
    writeAuthFile(authFile, [{ name: 'app', token: 'new-app-token-0123456789abcdef', publish: ['billing.>'] }])
    await hangup()
    t.ok(await app.waitClosed(2000), 'app was disconnected')
    t.match(app.errors().at(-1), { name: 'UNAUTHORIZED', message: /revoked/ })
    t.match((await login(broker.port, TOKENS.app)).errors(), [{ name: 'UNAUTHORIZED' }], 'the old token is refused')
    t.ok(welcomed(await login(broker.port, 'new-app-token-0123456789abcdef')), 'the new one works')
  })
})

t.test('an entry that expires while connected is cut off, even when idle', async (t) => {
  const { broker, authFile } = await authBroker(t, [{ name: 'brief', token: TOKENS.app, publish: ['>'] }])
  const p = await login(broker.port, TOKENS.app)
  t.ok(welcomed(p), 'logged in')
  writeAuthFile(authFile, [{ name: 'brief', token: TOKENS.app, publish: ['>'], expires: new Date(Date.now() + 1000).toISOString() }])
  await hangup()
  p.write(encodePing())
  t.ok(await p.waitFor((f) => f.opcode === Op.PONG), 'still served before it expires')
  t.ok(await p.waitClosed(4000), 'closed once expired, without sending anything')
  t.match(p.errors(), [{ name: 'UNAUTHORIZED', message: /expired/ }])
  t.match((await login(broker.port, TOKENS.app)).errors(), [{ name: 'UNAUTHORIZED', message: /expired/ }], 'and cannot log in again')
})
