/**
 * The auth file is checked whole when read, and token hashes verify only the
 * token they were made from.
 */
import t from 'tap'
import { parseAuthTable, Authenticator, hashToken, verifyToken, parseTokenHash } from '../../broker/auth/index.js'
import { tempDir, writeAuthFile, TOKENS } from './helpers.js'
import path from 'node:path'

const FAST = { ln: 10, r: 8, p: 1 } // scrypt cost kept low so tests stay quick

t.test('a good file', async (t) => {
  const table = parseAuthTable({
    users: [
      { name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: { allow: ['orders.>'], deny: ['orders.secret'] }, admin: false },
      { name: 'cert-only.example.com', subscribe: ['>'] },
      { name: 'ops', token: TOKENS.admin, admin: true, expires: '2030-01-01T00:00:00Z' },
    ],
  })
  t.equal(table.users.length, 3)
  t.same(table.byName.get('app')!.subscribe.deny.map((p) => p.source), ['orders.secret'])
  t.equal(table.byName.get('cert-only.example.com')!.tokenDigest, undefined, 'a certificate-only user has no token')
  t.equal(table.byName.get('ops')!.expiresAt, Date.parse('2030-01-01T00:00:00Z'))
  t.same(table.byName.get('ops')!.publish, { allow: [], deny: [] }, 'absent permissions allow nothing')
})

t.test('every problem refuses the file and names the user and key', async (t) => {
  const bad: [unknown, RegExp][] = [
    [[], /JSON object/],
    [{ users: {} }, /"users" must be an array/],
    [{ users: [], extra: 1 }, /unknown key "extra"/],
    [{ users: [{ name: 'a', token: TOKENS.app, pubish: [] }] }, /users\[0\] \(a\): unknown key "pubish"/],
    [{ users: [{ name: 'a', token: 'short' }] }, /"token" must be a string of 16-4096/],
    [{ users: [{ name: 'a', token: TOKENS.app, tokenHash: '$scrypt$x' }] }, /not both/],
    [{ users: [{ name: 'a', tokenHash: '$2b$10$abc' }] }, /tokenHash.*skiff passwd/],
    [{ users: [{ name: 'a', tokenHash: '$scrypt$ln=30,r=8,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA' }] }, /ln must be 10-20/],
    [{ users: [{ name: 'a', publish: ['orders..x'] }] }, /publish"\[0\] "orders..x" has an empty token/],
    [{ users: [{ name: 'a', subscribe: { allow: ['o.>.x'] } }] }, /may only be the last token/],
    [{ users: [{ name: 'a', subscribe: { allow: [], block: [] } }] }, /unknown key "block"/],
    [{ users: [{ name: 'a', admin: 'yes' }] }, /"admin" must be true or false/],
    [{ users: [{ name: 'a', monitor: 1 }] }, /"monitor" must be true or false/],
    [{ users: [{ name: 'a', broker: 'yes' }] }, /"broker" must be true or false/],
    [{ users: [{ name: 'a', expires: 'next week' }] }, /"expires" must be an ISO 8601 time/],
    [{ users: [{ name: 'has space' }] }, /"name" must be/],
    [{ users: [{ name: 'a' }, { name: 'a' }] }, /user "a" appears twice/],
    [{ users: [{ name: 'a', token: TOKENS.app }, { name: 'b', token: TOKENS.app }] }, /users "a" and "b" have the same token/],
  ]
  for (const [value, want] of bad) t.throws(() => parseAuthTable(value), want, JSON.stringify(value).slice(0, 80))
})

t.test('token hashes', async (t) => {
  const hash = await hashToken(TOKENS.app, FAST)
  t.match(hash, /^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/)
  const parsed = parseTokenHash(hash)
  t.equal(await verifyToken(TOKENS.app, parsed), true, 'the token verifies')
  t.equal(await verifyToken(TOKENS.app + 'x', parsed), false, 'a longer token does not')
  t.equal(await verifyToken(TOKENS.app.slice(0, -1), parsed), false, 'a shorter one does not')
  t.equal(await verifyToken(TOKENS.reader, parsed), false, 'another one does not')
  t.not(await hashToken(TOKENS.app, FAST), hash, 'each hash has its own salt')
})

t.test('the authenticator: plain, hashed, certificate, expiry', async (t) => {
  const dir = tempDir(t)
  const file = writeAuthFile(path.join(dir, 'users.json'), [
    { name: 'app', token: TOKENS.app, publish: ['orders.>'] },
    { name: 'hashed', tokenHash: await hashToken(TOKENS.reader, FAST), subscribe: ['orders.*'] },
    { name: 'cert.example.com', subscribe: ['>'] },
    { name: 'old', token: TOKENS.nobody, expires: '2001-01-01T00:00:00Z' },
    { name: 'watcher', token: TOKENS.admin, monitor: true },
  ])
  const auth = new Authenticator(file, { maxFailedLoginsPerIp: 0 })
  t.equal((await auth.authenticate(TOKENS.app)).user, 'app', 'a plain token needs no user name')
  t.equal((await auth.authenticate(TOKENS.app, { user: 'app' })).user, 'app', 'and may carry its own')
  await t.rejects(auth.authenticate(TOKENS.app, { user: 'hashed' }), { codeName: 'UNAUTHORIZED', message: 'the token is not valid' }, 'another user named: refused')
  t.equal((await auth.authenticate(TOKENS.reader, { user: 'hashed' })).user, 'hashed', 'a hashed token with its user')
  t.equal((await auth.authenticate(TOKENS.reader, { user: 'hashed' })).user, 'hashed', 'again (from memory)')
  await t.rejects(auth.authenticate(TOKENS.reader), { codeName: 'UNAUTHORIZED', message: /must also be named in HELLO/ }, 'a hashed token without its user')
  const runs = auth.stats().hashChecks
  await t.rejects(auth.authenticate(TOKENS.reader, { user: 'nobody-here' }), { codeName: 'UNAUTHORIZED', message: 'the token is not valid' }, 'an unknown user: the text of a wrong token')
  await t.rejects(auth.authenticate('x'.repeat(40)), { codeName: 'UNAUTHORIZED', message: /not valid/ })
  t.equal(auth.stats().hashChecks, runs, 'neither an unknown user nor an unnamed token costs a scrypt')
  await t.rejects(auth.authenticate('x'.repeat(40), { user: 'hashed' }), { codeName: 'UNAUTHORIZED', message: 'the token is not valid' })
  t.equal(auth.stats().hashChecks, runs + 1, 'a wrong token for a hashed user costs one scrypt')
  await t.rejects(auth.authenticate('x'.repeat(40), { user: 'hashed' }), { codeName: 'UNAUTHORIZED' }, 'a remembered failure is still a failure')
  t.equal(auth.stats().hashChecks, runs + 1, 'and costs no second scrypt')
  t.equal((await auth.authenticate(undefined, { certNames: ['nobody', 'cert.example.com'] })).user, 'cert.example.com', 'a certificate name maps to a user')
  await t.rejects(auth.authenticate(TOKENS.app, { certNames: ['cert.example.com'] }), { codeName: 'UNAUTHORIZED', message: /does not belong to user cert.example.com/ })
  await t.rejects(auth.authenticate(undefined, { certNames: ['cert.example.com'], user: 'app' }), { codeName: 'UNAUTHORIZED', message: /names user cert.example.com/ })
  await t.rejects(auth.authenticate(undefined), { codeName: 'UNAUTHORIZED', message: /requires a token/ })
  await t.rejects(auth.authenticate(''), { codeName: 'UNAUTHORIZED' })
  await t.rejects(auth.authenticate(TOKENS.nobody), { codeName: 'UNAUTHORIZED', message: /expired/ })
  await t.rejects(auth.authenticate(TOKENS.app.toUpperCase()), { codeName: 'UNAUTHORIZED' })

  const watcher = await auth.authenticate(TOKENS.admin, { user: 'watcher' })
  t.ok(auth.permits(watcher, 'describe', 'orders.eu'), 'monitor may describe any topic')
  t.notOk(auth.permits(watcher, 'publish', 'orders.eu') || auth.permits(watcher, 'subscribe', 'orders.eu') || auth.permits(watcher, 'admin', 'orders.eu'), 'and nothing else')
  t.ok(auth.mayMonitor(watcher), 'monitor may see the panel')

  const app = await auth.authenticate(TOKENS.app)
  t.ok(auth.permits(app, 'publish', 'orders.eu'))
  t.notOk(auth.permits(app, 'subscribe', 'orders.eu'))
  t.notOk(auth.permits(app, 'admin', 'orders.eu'))
  t.ok(auth.permits(app, 'describe', 'orders.eu'), 'describe follows publish')
  t.notOk(auth.mayMonitor(app), 'a publisher may not see the panel')
  t.throws(() => auth.authorize(app, 'subscribe', 'orders.eu'), { codeName: 'FORBIDDEN', message: 'user app may not subscribe to topic orders.eu', details: { user: 'app', operation: 'subscribe', topic: 'orders.eu' } })

  t.test('without a file everyone is anonymous and may do anything', async (t) => {
    const open = new Authenticator('')
    const who = await open.authenticate(undefined)
    t.equal(who.user, 'anonymous')
    t.ok(open.permits(who, 'admin', 'x'))
    t.equal(open.check(who), undefined)
  })
})
