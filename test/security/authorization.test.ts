/**
 * The authorization matrix: every operation x user x topic, the topics
 * including wildcard characters, `#` and `+`, empty tokens, NUL, very long and
 * Unicode names, dead-letter and internal-looking topics. The expected verdict
 * comes from a reference written here from the rules (not from the broker's
 * code); every deny must hold (FORBIDDEN or INVALID_REQUEST, nothing stored,
 * no group joined, the connection still open) and every allow must work, so
 * the matrix cannot pass by refusing everything.
 */
import t from 'tap'
import {
  Op,
  encodeFrame,
  encodePing,
  encodePublish,
  encodeRecord,
  encodeRequest,
  encodeServe,
  encodeSubscribe,
  encodeTopicCreate,
  encodeTopicList,
  encodeTopicRef,
  encodeGroupList,
} from '../../protocol/index.js'
import { TOKENS, authBroker, answer, login, type RawPeer } from './helpers.js'

interface Perm {
  allow: string[]
  deny: string[]
}
interface User {
  name: string
  token: string
  publish: Perm
  subscribe: Perm
  admin: boolean
}

const none: Perm = { allow: [], deny: [] }
const USERS: User[] = [
  { name: 'app', token: TOKENS.app, publish: { allow: ['orders.>'], deny: [] }, subscribe: { allow: ['orders.>'], deny: [] }, admin: false },
  { name: 'reader', token: TOKENS.reader, publish: none, subscribe: { allow: ['orders.*', 'audit', 'audit.dlq', '_internal.>'], deny: ['orders.secret'] }, admin: false },
  { name: 'ops', token: TOKENS.admin, publish: none, subscribe: none, admin: true },
  { name: 'nobody', token: TOKENS.nobody, publish: none, subscribe: none, admin: false },
]

const TOPICS = [
  'orders',
  'orders.eu',
  'orders.secret',
  'orders.eu.paid',
  'orders.dlq',
  'orders.secret.dlq',
  'audit',
  'audit.dlq',
  'billing',
  '_internal.offsets',
  '__consumer_offsets',
  'orders.*',
  'orders.>',
  '*',
  '>',
  '#',
  'orders.#',
  '+',
  'orders.+',
  'orders..eu',
  '.orders',
  'orders.',
  '..',
  '.',
  'orders.\u0000',
  'orders\u0000.eu',
  'o'.repeat(249),
  'orders.' + 'x'.repeat(300),
  'ordérs.eu',
  'orders.日本',
  'ORDERS.EU',
]

type Operation = 'create' | 'publish' | 'request' | 'subscribe' | 'describe' | 'serve' | 'delete'

// The reference: what the rules in SECURITY.md say, written independently of broker/auth.
const validName = (n: string) => /^[A-Za-z0-9._-]{1,249}$/.test(n) && n !== '.' && n !== '..'
const plainName = (n: string) => n.split('.').every((tok) => /^[A-Za-z0-9_-]+$/.test(tok))
function covers(pattern: string, name: string): boolean {
  if (!plainName(name)) return false
  const p = pattern.split('.')
  const n = name.split('.')
  if (p[p.length - 1] === '>') return n.length >= p.length && p.slice(0, -1).every((tok, i) => tok === '*' || tok === n[i])
  return n.length === p.length && p.every((tok, i) => tok === '*' || tok === n[i])
}
const grants = (perm: Perm, topic: string) => perm.allow.some((p) => covers(p, topic)) && !perm.deny.some((p) => covers(p, topic))
/** Reading a dead-letter topic also needs its origin chain: `a.dlq.dlq` needs `a.dlq` and `a` too (it holds their messages). */
const grantsRead = (perm: Perm, topic: string): boolean => grants(perm, topic) && (!topic.endsWith('.dlq') || topic === '.dlq' || grantsRead(perm, topic.slice(0, -4)))

function expected(user: User, op: Operation, topic: string): 'allow' | 'FORBIDDEN' | 'INVALID_REQUEST' {
  if (!validName(topic)) return 'INVALID_REQUEST'
  const may = {
    create: user.admin,
    delete: user.admin,
    publish: grants(user.publish, topic),
    request: grants(user.publish, topic),
    subscribe: grantsRead(user.subscribe, topic),
    serve: grantsRead(user.subscribe, topic),
    describe: user.admin || grants(user.publish, topic) || grants(user.subscribe, topic),
  }[op]
  if (!may) return 'FORBIDDEN'
  if ((op === 'publish' || op === 'create') && topic.endsWith('.dlq')) return 'INVALID_REQUEST' // only the broker writes dead letters
  return 'allow'
}

const record = encodeRecord({ payload: Buffer.from('m') })
let corr = 1000
let subId = 1

function frameFor(op: Operation, topic: string, user: User, c: number): Buffer {
  switch (op) {
    case 'create':
      return encodeTopicCreate({ corr: c, topic })
    case 'publish':
      return encodePublish({ corr: c, topic, count: 1, records: record, confirm: true })
    case 'request':
      return encodeRequest({ corr: c, topic, record, timeoutMs: 1000 })
    case 'subscribe':
      return encodeSubscribe({ corr: c, sub: subId++, topic, group: `g-${user.name}`, start: 'latest', maxInFlight: 10 })
    case 'describe':
      return encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: c, topic })
    case 'serve':
      return encodeServe(Op.SERVE, { corr: c, topic })
    case 'delete':
      return encodeTopicRef(Op.TOPIC_DELETE, { corr: c, topic })
  }
}

t.test('authorization matrix', async (t) => {
  const { broker } = await authBroker(
    t,
    USERS.map((u) => ({ name: u.name, token: u.token, publish: u.publish, subscribe: u.subscribe, admin: u.admin })),
    { maxSubscriptionsPerConnection: 0 },
  )
  const peers = new Map<string, RawPeer>()
  for (const u of USERS) {
    const p = await login(broker.port, u.token)
    t.ok(!p.closed, `${u.name} logged in`)
    peers.set(u.name, p)
  }
  const published = new Map<string, number>()
  let allows = 0
  let denies = 0

  // Requests before serves (a request to a topic served by a silent test peer would wait); deletes last.
  for (const op of ['create', 'publish', 'request', 'subscribe', 'describe', 'serve', 'delete'] as Operation[]) {
    if (op === 'delete') await checkNothingLeaked()
    for (const user of USERS) {
      const p = peers.get(user.name)!
      for (const topic of TOPICS) {
        const c = corr++
        const want = expected(user, op, topic)
        p.write(frameFor(op, topic, user, c))
        const got = await answer(p, c)
        const label = `${op} ${JSON.stringify(topic).slice(0, 40)} as ${user.name}`
        if (want === 'allow') {
          allows++
          // Allowed: whatever happens is not a refusal (a missing topic or server is not a deny).
          if (got.ok || ['TOPIC_EXISTS', 'UNKNOWN_TOPIC', 'NO_RESPONDERS'].includes(got.error!)) {
            if (got.ok && op === 'publish') published.set(topic, (published.get(topic) ?? 0) + 1)
          } else t.fail(`${label}: expected to be allowed, got ${got.error}`)
        } else {
          denies++
          if (got.error !== want) t.fail(`${label}: expected ${want}, got ${got.ok ? 'OK' : got.error}`)
          else if (want === 'FORBIDDEN') {
            const d = got.details ?? {}
            const operation = { create: 'admin', delete: 'admin', publish: 'publish', request: 'publish', subscribe: 'subscribe', serve: 'subscribe', describe: 'describe' }[op]
            if (d.topic !== topic || d.operation !== operation || d.user !== user.name) t.fail(`${label}: FORBIDDEN must name the topic, operation and user, got ${JSON.stringify(d)}`)
          }
        }
        if (p.closed) t.fail(`${label}: the connection was closed`)
      }
    }
  }
  t.ok(allows > 60, `${allows} allowed cells worked`)
  t.ok(denies > 600, `${denies} denied cells held`)

  t.test('every connection is still open and served', async (t) => {
    for (const [name, p] of peers) {
      const from = p.frames.length
      p.write(encodePing())
      t.ok(await p.waitFor((f) => f.opcode === Op.PONG, 5000, from), `${name} answered`)
    }
  })

  async function checkNothingLeaked(): Promise<void> {
    const ops = peers.get('ops')!
    // Each topic holds exactly the allowed publishes, and only allowed users joined groups.
    for (const topic of TOPICS.filter(validName)) {
      const c = corr++
      ops.write(encodeTopicRef(Op.TOPIC_DESCRIBE, { corr: c, topic }))
      const d = await answer(ops, c)
      if (!d.ok) {
        t.equal(d.error, 'UNKNOWN_TOPIC', `${topic}: not there`)
        t.notOk(published.get(topic), `${topic}: nothing was published to it`)
        continue
      }
      const info = d.result as { partitionInfo: { endOffset: number; startOffset: number }[] }
      const stored = info.partitionInfo.reduce((n, x) => n + x.endOffset - x.startOffset, 0)
      t.equal(stored, published.get(topic) ?? 0, `${topic}: holds only the allowed publishes`)
      const g = corr++
      ops.write(encodeGroupList({ corr: g, topic }))
      const groups = ((await answer(ops, g)).result as { group: string }[]).map((x) => x.group)
      for (const group of groups) {
        const user = USERS.find((u) => `g-${u.name}` === group)!
        t.equal(expected(user, 'subscribe', topic), 'allow', `${topic}: group ${group} belongs to a user allowed to subscribe`)
      }
    }
    // Lists show each user only what it may see.
    for (const user of USERS) {
      const p = peers.get(user.name)!
      const c = corr++
      p.write(encodeTopicList(c))
      const listed = ((await answer(p, c)).result as { topic: string }[]).map((x) => x.topic)
      for (const topic of listed) t.equal(expected(user, 'describe', topic), 'allow', `${user.name} may see listed ${topic}`)
      if (user.name === 'nobody') t.same(listed, [], 'nobody sees nothing')
      if (user.name === 'ops') t.ok(listed.includes('billing'), 'the admin sees every topic')
      const g = corr++
      p.write(encodeFrame(Op.GROUP_LIST, { corr: g }))
      const groups = (await answer(p, g)).result as { topic: string }[]
      for (const x of groups) t.equal(expected(user, 'describe', x.topic), 'allow', `${user.name} may see the groups of ${x.topic}`)
    }
  }
})
