/**
 * HELLO: pick the highest protocol version both sides speak, lift the
 * pre-handshake frame limit to the negotiated maximum, and answer WELCOME.
 * Credentials are checked here once authentication exists; until then a
 * token is accepted and ignored.
 */
import { SkiffError, SUPPORTED_VERSIONS, decodeHello, encodeWelcome } from '../../../protocol/index.js'
import type { Connection } from '../connection.js'
import { SERVER_NAME } from '../../version.js'

export function onHello(conn: Connection, body: Buffer): void {
  const hello = decodeHello(body)
  const version = SUPPORTED_VERSIONS.find((v) => hello.versions.includes(v))
  if (version === undefined) {
    throw new SkiffError('UNSUPPORTED_VERSION', `client offers versions [${hello.versions.join(', ')}]; broker speaks [${SUPPORTED_VERSIONS.join(', ')}]`, {
      details: { supported: [...SUPPORTED_VERSIONS] },
    })
  }
  if (conn.ctx.draining) throw new SkiffError('SHUTTING_DOWN')
  const { config } = conn.ctx
  conn.ready = true
  conn.clientName = hello.client
  conn.decoder.maxFrame = config.maxFrame
  conn.send(
    encodeWelcome({
      version,
      server: SERVER_NAME,
      connectionId: conn.id,
      maxFrame: config.maxFrame,
      heartbeatMs: config.heartbeatMs,
      idleTimeoutMs: config.idleTimeoutMs,
    }),
  )
  conn.ctx.logger.debug({ conn: conn.id, client: hello.client, remote: conn.remote, version }, 'client connected')
}
