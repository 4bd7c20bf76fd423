/**
 * HELLO: pick the highest protocol version both sides speak, check the
 * credentials (the token and the user it names, or the names of a verified
 * TLS client certificate in the fields tlsUserFields allows; see
 * auth/authenticator.ts), lift the pre-handshake frame limit to the
 * negotiated maximum, and answer WELCOME. Any failure here closes the
 * connection (dispatch.ts). Without an auth file the token is ignored and
 * WELCOME goes out at once.
 *
 * Decision: the check gets a signal aborted when the socket closes, so a
 * client that sends HELLO and hangs up does not leave a scrypt check queued
 * behind it (auth/slots.ts drops it from the wait list unrun). The socket is
 * paused while the check runs; Node still reads (and so sees the hang-up)
 * until the stream's high-water mark is buffered. A client that sends more
 * than that behind its HELLO before hanging up is noticed when the auth
 * timeout closes the connection, so its queued check waits at most that long
 * (and counts against its address's 4 checks meanwhile).
 */
import { SkiffError, SUPPORTED_VERSIONS, decodeHello, encodeWelcome } from '../../../protocol/index.js'
import type { HandshakeConnection } from '../handler-connection.js'
import { SERVER_NAME } from '../../version.js'
import { certificateNames, parseCertFields } from '../../auth/cert-names.js'

export async function onHello(conn: HandshakeConnection, body: Buffer): Promise<void> {
  const hello = decodeHello(body)
  const version = SUPPORTED_VERSIONS.find((v) => hello.versions.includes(v))
  if (version === undefined) {
    throw new SkiffError('UNSUPPORTED_VERSION', `client offers versions [${hello.versions.join(', ')}]; broker speaks [${SUPPORTED_VERSIONS.join(', ')}]`, {
      details: { supported: [...SUPPORTED_VERSIONS] },
    })
  }
  if (conn.ctx.draining) throw new SkiffError('SHUTTING_DOWN')
  const { config, auth } = conn.ctx
  if (auth.enabled) {
    conn.beginAuthentication()
    const gone = new AbortController()
    const abort = () => gone.abort()
    conn.socket.once('close', abort)
    try {
      conn.user = await auth.authenticate(hello.token, {
        user: hello.user,
        certNames: certificateNames(conn.socket, parseCertFields(config.tlsUserFields)),
        ip: conn.socket.remoteAddress,
        signal: gone.signal,
      })
    } finally {
      conn.socket.off('close', abort)
    }
    if (conn.closed) return
    if (conn.ctx.draining) throw new SkiffError('SHUTTING_DOWN')
  } else {
    conn.user = auth.anonymous()
  }
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
      brokerId: conn.ctx.identity.brokerId,
      clusterId: conn.ctx.identity.clusterId,
      ...(conn.ctx.cluster ? { clustered: true } : {}),
    }),
  )
  conn.ctx.logger.debug({ conn: conn.id, client: hello.client, user: conn.user.user, via: conn.user.via, remote: conn.remote, version }, 'client connected')
  conn.endAuthentication()
}
