/**
 * TLS on the protocol port: a skiffs:// round trip with the CA the client was
 * given, a clear error (not a hang) for a plaintext client on the TLS port,
 * and client certificates (mTLS) mapped to users of the auth file.
 */
import t, { type Test } from 'tap'
import fs from 'node:fs'
import { connect, type ConnectOptions } from '../../clients/index.js'
import { SUPPORTED_VERSIONS, encodeHello } from '../../protocol/index.js'
import { RawPeer, TOKENS, authBroker, tempDir } from './helpers.js'
import { haveOpenssl, makePki, type TestPki } from './certificates.js'

const users = [
  { name: 'app', token: TOKENS.app, publish: ['orders.>'], subscribe: ['orders.>'] },
  { name: 'reporter', publish: ['reports.>'], subscribe: ['reports.>'] },
  { name: 'svc.example.com', publish: ['svc.>'] },
]

if (!haveOpenssl()) {
  t.skip('the openssl command is needed to make test certificates')
} else {
  t.test('TLS', async (t) => {
    const pki = makePki(tempDir(t, 'skiff-pki-'))
    const read = (f: string) => fs.readFileSync(f)
    await serverOnly(t, pki, read)
    await mutual(t, pki, read)
  })
}

async function serverOnly(t: Test, pki: TestPki, read: (f: string) => Buffer): Promise<void> {
  const { broker } = await authBroker(t, users, { tlsCert: pki.server.cert, tlsKey: pki.server.key })
  const url = `skiffs://127.0.0.1:${broker.port}`
  const opts = (extra: Partial<ConnectOptions> = {}): ConnectOptions => ({ name: 'tls-test', token: TOKENS.app, reconnect: false, connectTimeoutMs: 5000, ...extra })

  t.test('a client publishes and consumes over skiffs:// with the CA it was given', async (t) => {
    const c = await connect(url, opts({ tls: { ca: read(pki.ca) } }))
    t.teardown(() => c.close())
    const consumer = await c.subscribe('orders.tls', { group: 'g', from: 'earliest' })
    t.match(await c.producer().publish('orders.tls', 'over tls'), { partition: 0, offset: 0 })
    const it = consumer[Symbol.asyncIterator]()
    const first = await Promise.race([it.next(), new Promise<undefined>((r) => setTimeout(r, 5000))])
    t.equal(first && !first.done ? first.value.payload.toString() : undefined, 'over tls', 'delivered over TLS')
    if (first && !first.done) first.value.ack()
  })

  t.test('large records over skiffs:// (frames read in many TLS records, handed to the worker whole) come back byte for byte', async (t) => {
    const c = await connect(url, opts({ tls: { ca: read(pki.ca) } }))
    t.teardown(() => c.close())
    const payloads = Array.from({ length: 20 }, (_, i) => Buffer.alloc(64 * 1024 + i, i + 1))
    const producer = c.producer()
    const sent = await Promise.all(payloads.map((p) => producer.publish('orders.tls-large', p)))
    t.same(sent.map((r) => r.offset), payloads.map((_, i) => i), 'confirmed in order')
    const consumer = await c.subscribe('orders.tls-large', { group: 'g', from: 'earliest' })
    const got: Buffer[] = []
    for await (const m of consumer) {
      got.push(Buffer.from(m.payload))
      m.ack()
      if (got.length === payloads.length) break
    }
    t.ok(got.length === payloads.length && got.every((g, i) => g.equals(payloads[i]!)), 'every payload whole')
  })

  t.test('the servername option is honoured (certificate for "localhost")', async (t) => {
    const c = await connect(`skiffs://localhost:${broker.port}`, opts({ tls: { ca: read(pki.ca) } }))
    t.match(await c.producer().publish('orders.tls', 'by name'), { offset: 1 })
    await c.close()
  })

  t.test('without the CA the client refuses the broker certificate', async (t) => {
    await t.rejects(connect(url, opts()), { codeName: 'CONNECTION_CLOSED', message: /certificate/i })
  })

  t.test('a plaintext client on the TLS port gets a clear error, not a hang', async (t) => {
    await t.rejects(connect(`skiff://127.0.0.1:${broker.port}`, opts()), { message: /this port speaks TLS: connect with skiffs:\/\// })
    const p = await RawPeer.connect(broker.port)
    p.write(encodeHello({ versions: [...SUPPORTED_VERSIONS], client: 'plain', token: TOKENS.app }))
    t.ok(await p.waitClosed(3000), 'closed')
    t.match(p.errors(), [{ name: 'BAD_FRAME', message: /skiffs:\/\// }], 'a plaintext ERROR frame says why')
  })

  t.test('a TLS client that sends nothing after connecting is closed by the auth timeout', async (t) => {
    const p = await RawPeer.connect(broker.port)
    t.ok(await p.waitClosed(4000), 'closed')
    t.equal(p.frames.length, 0)
  })

  t.test('SIGHUP re-reads the certificate files', async (t) => {
    process.kill(process.pid, 'SIGHUP')
    await new Promise((r) => setTimeout(r, 100))
    const c = await connect(url, opts({ tls: { ca: read(pki.ca) } }))
    t.ok(c, 'new connections still work')
    await c.close()
  })
}

async function mutual(t: Test, pki: TestPki, read: (f: string) => Buffer): Promise<void> {
  // DNS names may name users here (tlsUserFields), for the subjectAltName case below; attack-cert-names.test.ts covers the fields themselves.
  const { broker } = await authBroker(t, users, { tlsCert: pki.server.cert, tlsKey: pki.server.key, tlsCa: pki.ca, tlsVerifyClients: true, tlsUserFields: 'cn,dns' })
  const url = `skiffs://127.0.0.1:${broker.port}`
  const withCert = (who: { cert: string; key: string } | undefined, extra: Partial<ConnectOptions> = {}): ConnectOptions => ({
    name: 'mtls-test',
    reconnect: false,
    connectTimeoutMs: 5000,
    tls: { ca: read(pki.ca), ...(who ? { cert: read(who.cert), key: read(who.key) } : {}) },
    ...extra,
  })

  t.test('mTLS: the certificate CN is the user, with that user\'s permissions', async (t) => {
    const c = await connect(url, withCert(pki.reporter))
    t.teardown(() => c.close())
    const p = c.producer()
    t.match(await p.publish('reports.daily', 'r'), { offset: 0 }, 'allowed topic')
    await t.rejects(p.publish('orders.x', 'r'), { codeName: 'FORBIDDEN', message: /user reporter may not publish to topic orders.x/ })
    t.match(await p.publish('reports.daily', 'still open'), { offset: 1 }, 'the connection stays open after FORBIDDEN')
  })

  t.test('mTLS: a DNS subjectAltName maps when the CN is not a user and tlsUserFields lists dns', async (t) => {
    const c = await connect(url, withCert(pki.service))
    t.match(await c.producer().publish('svc.events', 's'), { offset: 0 })
    await t.rejects(c.producer().publish('reports.daily', 's'), { codeName: 'FORBIDDEN' })
    await c.close()
  })

  t.test('mTLS: a verified certificate naming no user still needs a token', async (t) => {
    await t.rejects(connect(url, withCert(pki.stranger)), { codeName: 'UNAUTHORIZED' })
    const c = await connect(url, withCert(pki.stranger, { token: TOKENS.app }))
    t.match(await c.producer().publish('orders.mtls', 'a'), { offset: 0 }, 'with a token it logs in as the token\'s user')
    await c.close()
  })

  t.test('mTLS: a token of another user than the certificate names is refused', async (t) => {
    await t.rejects(connect(url, withCert(pki.reporter, { token: TOKENS.app })), { codeName: 'UNAUTHORIZED', message: /does not belong to user reporter/ })
  })

  t.test('mTLS: no certificate, or one from another CA, fails the handshake', async (t) => {
    await t.rejects(connect(url, withCert(undefined, { token: TOKENS.app })), { codeName: 'CONNECTION_CLOSED' })
    await t.rejects(connect(url, withCert(pki.forged, { token: TOKENS.app })), { codeName: 'CONNECTION_CLOSED' })
  })

  t.test('a raw TLS peer must still send HELLO', async (t) => {
    const tls = await import('node:tls')
    const s = tls.connect({ host: '127.0.0.1', port: broker.port, ca: read(pki.ca), cert: read(pki.reporter.cert), key: read(pki.reporter.key) })
    const closed = new Promise<boolean>((resolve) => {
      s.on('close', () => resolve(true))
      setTimeout(() => resolve(false), 5000)
    })
    s.on('error', () => {})
    let got = ''
    s.on('data', (d: Buffer) => (got += d.toString('latin1')))
    t.ok(await closed, 'closed after the auth timeout although the certificate was good')
    t.match(got, /UNAUTHORIZED/, 'told UNAUTHORIZED')
  })
}
