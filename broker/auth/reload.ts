/**
 * SIGHUP: read the auth file (and the TLS files) again without a restart and
 * without dropping connections that are still allowed.
 *
 * A bad new file changes nothing: the error is logged and the previous rules
 * stay in force. After a good one, each open connection is looked at once:
 * - its user is gone, its token changed or it expired: closed, UNAUTHORIZED;
 * - it holds a subscription (or serves a request topic) its user may no
 *   longer have: closed, UNAUTHORIZED naming the topic, so deliveries the new
 *   rules forbid stop at once (the client does not retry UNAUTHORIZED);
 * - otherwise it stays, with the new permissions from its next request on.
 */
import { SkiffError } from '../../protocol/index.js'
import type { Logger } from '../logger.js'
import type { Authenticator, Identity } from './authenticator.js'
import { unreadableOrigin } from './guard.js'

export interface ReloadableConnection {
  user: Identity | undefined
  readonly subs: ReadonlyMap<number, { topic: string }>
  readonly served?: ReadonlySet<string>
  fail(err: SkiffError): void
}

export interface ReloadTargets {
  auth: Authenticator
  logger: Logger
  connections: Iterable<ReloadableConnection>
  /** Re-read the TLS certificate files; throws when they cannot be used. */
  reloadTls?: (() => void) | undefined
}

export function reloadSecurity({ auth, logger, connections, reloadTls }: ReloadTargets): void {
  if (reloadTls) {
    try {
      reloadTls()
      logger.info('TLS certificate reloaded')
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'TLS certificate not reloaded; the previous one stays in use')
    }
  }
  if (!auth.enabled) return
  try {
    const { users } = auth.reload()
    logger.info({ users, file: auth.authFile }, 'auth file reloaded')
  } catch (err) {
    logger.error({ err: (err as Error).message }, 'auth file not reloaded; the previous one stays in force')
    return
  }
  let closed = 0
  for (const conn of [...connections]) {
    const problem = stillAllowed(auth, conn)
    if (problem) {
      conn.fail(problem)
      closed++
    }
  }
  if (closed > 0) logger.info({ closed }, 'connections closed by the new auth rules')
}

function stillAllowed(auth: Authenticator, conn: ReloadableConnection): SkiffError | undefined {
  const user = conn.user
  if (!user) return undefined // still in its handshake: HELLO is checked against the new rules
  const problem = auth.check(user)
  if (problem) return problem
  const topics = [...[...conn.subs.values()].map((s) => s.topic), ...(conn.served ?? [])]
  for (const topic of topics) {
    // A dead-letter topic also needs its origin chain (guard.ts): a user may read only what it could read anyway.
    if (!auth.permits(user, 'subscribe', topic) || unreadableOrigin(auth, user, topic) !== undefined) {
      return new SkiffError('UNAUTHORIZED', `user ${user.user} may no longer subscribe to topic ${topic}`)
    }
  }
  return undefined
}
