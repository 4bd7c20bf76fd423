/**
 * Issue 13, item 10 (certificate names): a client certificate whose email or
 * URI subjectAltName equals a user name logged in as that user, whatever the
 * operator meant certificates to name. Now only the fields listed in
 * tlsUserFields (default `cn`) may name a user, tried in the order listed.
 *
 * Each case is a real broker with TLS and verified client certificates made
 * by openssl, and the real client; asserted on what the broker answered.
 */
import t, { type Test } from 'tap'
import fs from 'node:fs'
import { connect, type ConnectOptions } from '../../clients/index.js'
import { resolveConfig } from '../../broker/config.js'
import { authBroker, tempDir } from './helpers.js'
import { haveOpenssl, makePki, type TestPki } from './certificates.js'

const users = [
  { name: 'reporter', publish: ['reports.>'] },
  { name: 'ops@example.com', publish: ['ops.>'] },
  { name: 'spiffe://example.com/ops', publish: ['ops.>'] },
  { name: 'svc.example.com', publish: ['svc.>'] },
]

/** Logs in with the certificate alone; the user the broker took it for, or the refusal's error code. */
async function loginAs(t: Test, port: number, pki: TestPki, who: { cert: string; key: string }): Promise<string> {
  const opts: ConnectOptions = {
    name: 'cert-names',
    reconnect: false,
    connectTimeoutMs: 5000,
    tls: { ca: fs.readFileSync(pki.ca), cert: fs.readFileSync(who.cert), key: fs.readFileSync(who.key) },
  }
  try {
    const c = await connect(`skiffs://127.0.0.1:${port}`, opts)
    t.teardown(() => c.close())
    // Who we are shows in FORBIDDEN's message: publish where nobody may.
    const refused = await c
      .producer()
      .publish('nobody.may', 'x')
      .then(
        () => undefined,
        (err: Error) => err.message,
      )
    return /user (\S+) may not/.exec(refused ?? '')?.[1] ?? 'unknown'
  } catch (err) {
    return (err as { codeName?: string }).codeName ?? String(err)
  }
}

async function brokerWith(t: Test, pki: TestPki, tlsUserFields?: string): Promise<number> {
  const { broker } = await authBroker(t, users, {
    tlsCert: pki.server.cert,
    tlsKey: pki.server.key,
    tlsCa: pki.ca,
    tlsVerifyClients: true,
    ...(tlsUserFields !== undefined ? { tlsUserFields } : {}),
  })
  return broker.port
}

if (!haveOpenssl()) {
  t.skip('the openssl command is needed to make test certificates')
} else {
  t.test('certificate name fields', async (t) => {
    const pki = makePki(tempDir(t, 'skiff-pki-'))

    t.test('default (cn): an email, URI or DNS subjectAltName equal to a user name does not log in', async (t) => {
      const port = await brokerWith(t, pki)
      t.equal(await loginAs(t, port, pki, pki.mailbox), 'UNAUTHORIZED', 'email SAN ops@example.com: refused')
      t.equal(await loginAs(t, port, pki, pki.workload), 'UNAUTHORIZED', 'URI SAN spiffe://example.com/ops: refused')
      t.equal(await loginAs(t, port, pki, pki.service), 'UNAUTHORIZED', 'DNS SAN svc.example.com: refused')
      t.equal(await loginAs(t, port, pki, pki.reporter), 'reporter', 'the subject CN still names its user')
    })

    t.test('tlsUserFields "cn,email": the email SAN names its user, the URI SAN still does not', async (t) => {
      const port = await brokerWith(t, pki, 'cn,email')
      t.equal(await loginAs(t, port, pki, pki.mailbox), 'ops@example.com')
      t.equal(await loginAs(t, port, pki, pki.workload), 'UNAUTHORIZED')
    })

    t.test('tlsUserFields "uri": only the URI SAN names a user, not even the CN', async (t) => {
      const port = await brokerWith(t, pki, 'uri')
      t.equal(await loginAs(t, port, pki, pki.workload), 'spiffe://example.com/ops')
      t.equal(await loginAs(t, port, pki, pki.reporter), 'UNAUTHORIZED')
    })
  })
}

t.test('the config check refuses unknown field names, naming them and the valid ones', async (t) => {
  t.throws(() => resolveConfig({ tlsUserFields: 'cn,upn' }), { message: /tlsUserFields: unknown certificate field "upn"; use a comma list of cn, dns, email, uri/ })
  t.throws(() => resolveConfig({ tlsUserFields: ' , ' }), { message: /tlsUserFields must list at least one of cn, dns, email, uri/ })
  t.equal(resolveConfig({}).tlsUserFields, 'cn', 'default: the subject CN only')
  t.doesNotThrow(() => resolveConfig({ tlsUserFields: 'CN, dns,email,uri' }), 'case and spaces do not matter')
})
