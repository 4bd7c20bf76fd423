/**
 * Request/reply across a cluster: a requester on one broker reaches a server
 * connected to another (the request is forwarded over a broker-to-broker
 * link); each request is handled once; NO_RESPONDERS only when nobody in the
 * cluster serves the topic; the death of the server's broker mid-request is a
 * retriable error, not a hang. With an auth file, the brokers log in to each
 * other as the user marked "broker", and a forwarded request from anyone
 * else is refused.
 */
import t from 'tap'
import fs from 'node:fs'
import path from 'node:path'
import { connect, type Client, type SkiffError } from '../../clients/index.js'
import { Op, SUPPORTED_VERSIONS, decodeError, decodeReply, encodeHello, encodeRecord, encodeRequest } from '../../protocol/index.js'
import { clusterMissing, startCluster } from './broker-cluster.js'
import { metricValue, tempDir, until } from '../reliability/harness.js'
import { RawPeer } from '../broker/raw-peer.js'
import { writeAuthFile } from '../security/helpers.js'
import { haveOpenssl, makePki } from '../security/certificates.js'

const missing = clusterMissing()
if (missing) t.skip(missing)
else {
  t.test('a requester on broker 1 reaches servers connected to brokers 2 and 3', async (t) => {
    const cluster = await startCluster(t, { brokers: 3 })
    const clients: Client[] = []
    t.teardown(() => Promise.all(clients.map((c) => c.close().catch(() => {}))))
    for (const url of cluster.seeds) {
      const c = await connect(url, { name: 'rr-cluster-test', requestTimeoutMs: 10_000, reconnect: false })
      c.on('error', () => {})
      clients.push(c)
    }
    const [c1, c2, c3] = clients as [Client, Client, Client]

    await c3.serve('echo', (req) => ({ from: 3, got: req.decode() }))
    const one = await c1.request('echo', { n: 'first' }, { timeoutMs: 5000 })
    t.same(one.decode(), { from: 3, got: { n: 'first' } }, 'the reply of the server on broker 3 reaches the requester on broker 1')

    await t.rejects(c1.request('nobody.serves', 'x', { timeoutMs: 5000 }), { code: 'NO_RESPONDERS', retriable: true }, 'NO_RESPONDERS when no broker has a server')

    // Two servers on two other brokers, 200 requests at once: each answered once, with its own reply.
    const handled = { 2: 0, 3: 0 }
    await c2.serve('work', (req) => {
      handled[2]++
      return { from: 2, n: req.decode() }
    })
    await c3.serve('work', (req) => {
      handled[3]++
      return { from: 3, n: req.decode() }
    })
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => c1.request('work', i, { timeoutMs: 10_000 })))
    const got = replies.map((r) => r.decode() as { from: number; n: number })
    t.same(
      got.map((r) => r.n),
      Array.from({ length: 200 }, (_, i) => i),
      'every request got the reply to itself',
    )
    t.equal(handled[2] + handled[3], 200, 'each request was handled by exactly one server')
    t.ok(handled[2] > 0 && handled[3] > 0, `both brokers' servers took requests (${handled[2]} and ${handled[3]})`)

    // A local server is used first: nothing is forwarded while broker 1 has one.
    await c1.serve('work', (req) => ({ from: 1, n: req.decode() }))
    const local = await c1.request('work', 'here', { timeoutMs: 5000 })
    t.same(local.decode(), { from: 1, n: 'here' }, "broker 1's own server answers")

    const metrics = await cluster.brokers[0]!.metrics()
    if (metrics !== undefined) {
      // In a cluster every series also carries the broker's id.
      const count = (outcome: string) => metricValue(metrics, 'skiff_cluster_forwarded_requests_total', { outcome, broker: '1' })
      t.equal(count('replied'), 201, 'broker 1 counted the forwarded requests that were answered')
      t.equal(count('no_responders'), 1, 'and the one nobody served')
    }

    // The server's broker dies while a request waits on it: a retriable error, well before the timeout.
    let started!: () => void
    const handling = new Promise<void>((resolve) => (started = resolve))
    await c3.serve('stuck', () => {
      started()
      return new Promise(() => {})
    })
    const began = Date.now()
    const pending = c1.request('stuck', 'x', { timeoutMs: 20_000 }).then(
      () => undefined,
      (e: SkiffError) => e,
    )
    await handling
    await cluster.brokers[2]!.kill()
    const err = await pending
    t.match(err, { code: 'NO_RESPONDERS', retriable: true, details: { broker: 3 } }, 'the requester learns that the broker of the server went away')
    t.ok(Date.now() - began < 20_000, 'before its own timeout')

    // Broker 3 is down (and may still be in the view until its lease ends): the server on broker 2 is found.
    const after = await c1.request('echo', 'again', { timeoutMs: 5000 }).catch((e: SkiffError) => e)
    t.match(after, { code: 'NO_RESPONDERS' }, 'the topic only broker 3 served has no server left')
    const work = await c1.request('work', 'still', { timeoutMs: 5000 })
    t.ok([1, 2].includes((work.decode() as { from: number }).from), 'other topics are still served')
  })

  t.test('with an auth file the brokers log in as the broker user; forwarded requests from anyone else are refused', async (t) => {
    const dir = tempDir(t, 'rr-auth')
    const tokens = { broker: 'broker-token-0123456789', server: 'server-token-0123456789', caller: 'caller-token-0123456789', outsider: 'outsider-token-0123456789' }
    const authFile = path.join(dir, 'users.json')
    writeAuthFile(authFile, [
      { name: 'cluster', token: tokens.broker, broker: true },
      { name: 'server', token: tokens.server, subscribe: ['svc.>'] },
      { name: 'caller', token: tokens.caller, publish: ['svc.>'] },
      { name: 'outsider', token: tokens.outsider, publish: ['other.>'] },
    ])
    const cluster = await startCluster(t, { brokers: 2, etcdMembers: 1, args: ['--auth-file', authFile] })
    const [url1, url2] = cluster.seeds as [string, string]
    const server = await connect(url2, { user: 'server', token: tokens.server, reconnect: false })
    const caller = await connect(url1, { user: 'caller', token: tokens.caller, reconnect: false })
    const outsider = await connect(url1, { user: 'outsider', token: tokens.outsider, reconnect: false })
    t.teardown(() => Promise.all([server, caller, outsider].map((c) => c.close().catch(() => {}))))
    await server.serve('svc.time', () => 'noon')

    const reply = await caller.request('svc.time', null, { timeoutMs: 5000 })
    t.equal(reply.decode(), 'noon', 'a request crosses brokers that check logins')
    await t.rejects(outsider.request('svc.time', null, { timeoutMs: 5000 }), { code: 'FORBIDDEN' }, 'the first broker still checks the requester may publish')

    // A client marks its request forwarded to skip the check on broker 2: refused.
    const raw = await RawPeer.connect(cluster.brokers[1]!.port)
    t.teardown(() => raw.socket.destroy())
    raw.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'sneaky', user: 'outsider', token: tokens.outsider }))
    t.ok(await raw.waitFor((f) => f.opcode === Op.WELCOME), 'logged in as outsider')
    const record = encodeRecord({ headers: {}, payload: Buffer.from('x') })
    raw.write(encodeRequest({ corr: 7, topic: 'svc.time', record, timeoutMs: 5000, forwarded: true }))
    const refused = await raw.waitFor((f) => f.opcode === Op.ERROR)
    t.match(refused && decodeError(refused.body), { corr: 7, name: 'FORBIDDEN', message: /only a broker/ }, 'a forwarded request from a client is FORBIDDEN')

    // The broker user may (it holds no publish permission: the first broker vouches for the requester).
    const peer = await RawPeer.connect(cluster.brokers[1]!.port)
    t.teardown(() => peer.socket.destroy())
    peer.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'skiff-broker/9', user: 'cluster', token: tokens.broker }))
    t.ok(await peer.waitFor((f) => f.opcode === Op.WELCOME))
    peer.write(encodeRequest({ corr: 8, topic: 'svc.time', record, timeoutMs: 5000, forwarded: true }))
    const answered = await peer.waitFor((f) => f.opcode === Op.REPLY || f.opcode === Op.ERROR)
    t.equal(answered?.opcode, Op.REPLY, 'a forwarded request from the broker user is served')
    t.equal(answered && decodeReply(answered.body).corr, 8)
    peer.write(encodeRequest({ corr: 9, topic: 'svc.none', record, timeoutMs: 5000, forwarded: true }))
    const none = await peer.waitFor((f) => f.opcode === Op.ERROR)
    t.match(none && decodeError(none.body), { corr: 9, name: 'NO_RESPONDERS' }, 'and never forwarded again: NO_RESPONDERS without a server there')
  })

  t.test('forwarded requests are bounded per requester and per peer broker', async (t) => {
    const cluster = await startCluster(t, { brokers: 2, etcdMembers: 1, args: ['--max-requests-per-connection', '5'] })
    const [url1, url2] = cluster.seeds as [string, string]
    const server = await connect(url2, { reconnect: false })
    const [r1, r2] = await Promise.all([connect(url1, { reconnect: false }), connect(url1, { reconnect: false })])
    t.teardown(() => Promise.all([server, r1, r2].map((c) => c.close().catch(() => {}))))
    const held: (() => void)[] = []
    await server.serve('slow', (req) => new Promise((resolve) => held.push(() => resolve(req.decode()))))
    const settle = (p: Promise<{ decode(): unknown }>) =>
      p.then(
        (r) => ({ reply: r.decode() }),
        (e: SkiffError) => ({ code: e.code, limit: e.details?.limit }),
      )
    const release = async (n: number) => {
      await until(() => held.length === n, 5000)
      for (const f of held.splice(0)) f()
    }

    // One requester: its 6th waiting request is past its maxRequestsPerConnection, forwarded or not.
    const mine = Array.from({ length: 6 }, (_, i) => settle(r1.request('slow', i, { timeoutMs: 10_000 })))
    await release(5)
    const got = await Promise.all(mine)
    t.same(got.filter((g) => 'reply' in g).length, 5, 'five were answered')
    t.same(
      got.filter((g) => !('reply' in g)),
      [{ code: 'INVALID_REQUEST', limit: 'maxRequestsPerConnection' }],
      'the sixth was refused',
    )

    // Two requesters, three each: the link to broker 2 holds at most five; the sixth is OVERLOADED (retriable).
    const both = [...Array.from({ length: 3 }, (_, i) => settle(r1.request('slow', i, { timeoutMs: 10_000 }))), ...Array.from({ length: 3 }, (_, i) => settle(r2.request('slow', 10 + i, { timeoutMs: 10_000 })))]
    await release(5)
    const answers = await Promise.all(both)
    t.equal(answers.filter((g) => 'reply' in g).length, 5, 'five went to the server')
    t.same(
      answers.filter((g) => !('reply' in g)),
      [{ code: 'OVERLOADED', limit: undefined }],
      'one found the link to the peer full',
    )
    const metrics = await cluster.brokers[0]!.metrics()
    if (metrics !== undefined) t.equal(metricValue(metrics, 'skiff_cluster_forwarded_requests_total', { outcome: 'overloaded', broker: '1' }), 1, 'counted')

    // Broker 2 stalls (SIGSTOP) with a request on its server: the link notices the silence, the
    // requester gets a retriable error long before its timeout, and the next request does not hang either.
    const stalled = settle(r1.request('slow', 'stalled', { timeoutMs: 30_000 }))
    await until(() => held.length === 1, 5000)
    const b2 = cluster.brokers[1]!
    process.kill(b2.pid, 'SIGSTOP')
    t.teardown(() => {
      if (b2.running) process.kill(b2.pid, 'SIGCONT')
    })
    t.same(await stalled, { code: 'NO_RESPONDERS', limit: undefined }, 'the request waiting on the stalled broker is answered NO_RESPONDERS')
    t.same(await settle(r1.request('slow', 'next', { timeoutMs: 30_000 })), { code: 'NO_RESPONDERS', limit: undefined }, 'a stalled broker is not waited for')
    process.kill(b2.pid, 'SIGCONT')
  })

  t.test('over TLS, the links to peer brokers speak TLS and trust the configured CA', { skip: haveOpenssl() ? false : 'the openssl command is needed to make test certificates' }, async (t) => {
    const dir = tempDir(t, 'rr-tls')
    const pki = makePki(dir)
    const authFile = path.join(dir, 'users.json')
    const tokens = { broker: 'broker-token-0123456789', app: 'app-token-0123456789abc' }
    writeAuthFile(authFile, [{ name: 'cluster', token: tokens.broker, broker: true }, { name: 'app', token: tokens.app, publish: ['svc.>'], subscribe: ['svc.>'] }])
    const cluster = await startCluster(t, { brokers: 2, etcdMembers: 1, args: ['--auth-file', authFile, '--tls-cert', pki.server.cert, '--tls-key', pki.server.key, '--tls-ca', pki.ca] })
    const opts = { user: 'app', token: tokens.app, reconnect: false as const, tls: { ca: fs.readFileSync(pki.ca) } }
    const server = await connect(`skiffs://127.0.0.1:${cluster.brokers[1]!.port}`, opts)
    const caller = await connect(`skiffs://127.0.0.1:${cluster.brokers[0]!.port}`, opts)
    t.teardown(() => Promise.all([server, caller].map((c) => c.close().catch(() => {}))))
    await server.serve('svc.tls', (req) => `secure ${String(req.decode())}`)
    t.equal((await caller.request('svc.tls', 'hello', { timeoutMs: 5000 })).decode(), 'secure hello', 'the request crossed a TLS link between the brokers')
  })
}
