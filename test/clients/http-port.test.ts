/**
 * connect() to the broker's HTTP port (/metrics) instead of its protocol
 * port: the HTTP server answers HELLO with "HTTP/1.1 400", whose first four
 * bytes read as a frame of 1,213,486,160 bytes. The connect fails at once
 * with an error that says what the port is.
 */
import t from 'tap'
import { connect } from '../../clients/index.js'
import { SkiffError } from '../../protocol/index.js'
import { startTestBroker } from '../e2e/helpers.js'

t.test('connect() to the HTTP port fails saying it is the HTTP port', async (t) => {
  const tb = await startTestBroker(t, 1)
  const url = `skiff://127.0.0.1:${tb.broker.httpPort}`
  const err = await connect(url, { connectTimeoutMs: 5000 }).then(
    (c) => (void c.close(), undefined),
    (e: unknown) => e,
  )
  t.ok(err instanceof SkiffError, 'a SkiffError')
  t.match(err, {
    codeName: 'BAD_FRAME',
    retriable: false,
    message: `${url} answered with HTTP: that is the broker's HTTP port (/metrics), not its protocol port (default 7600)`,
  })
  // The protocol port of the same broker still works.
  const client = await tb.client()
  t.same(await client.admin.listTopics(), [])
})
