/**
 * TLS on the protocol port (`--tls-cert`, `--tls-key`, optional `--tls-ca`
 * and `--tls-verify-clients`).
 *
 * The listener stays a plain TCP server; each accepted socket is handed to a
 * non-listening tls.Server once its first byte has arrived. That first byte
 * decides:
 * - 0x16 (a TLS handshake record): the byte is put back and the socket goes
 *   through the TLS handshake (tls.Server does the certificate checks);
 * - anything else is a client speaking plain skiff (or something else) to a
 *   TLS port. It gets a plaintext ERROR frame saying to use skiffs://, then a
 *   close, instead of a handshake that never completes.
 *
 * A socket that sends nothing is closed after the auth timeout; the handshake
 * itself has the same timeout. After the handshake the connection gets the
 * usual auth timeout counted from its TCP accept.
 *
 * Client certificates: with `--tls-ca` the broker asks for one; with
 * `--tls-verify-clients` it also refuses the handshake without a certificate
 * signed by that CA. A verified certificate can name a user of the auth file
 * (see cert-names.ts). `reload()` re-reads the files (SIGHUP), so a renewed
 * certificate is used by new connections without a restart.
 */
import fs from 'node:fs'
import tls from 'node:tls'
import type net from 'node:net'
import { SkiffError, encodeError } from '../../protocol/index.js'

export interface TlsSettings {
  tlsCert: string
  tlsKey: string
  tlsCa: string
  tlsVerifyClients: boolean
  authTimeoutMs: number
}

const TLS_HANDSHAKE_RECORD = 0x16

export function tlsEnabled(c: Pick<TlsSettings, 'tlsCert' | 'tlsKey'>): boolean {
  return c.tlsCert !== '' && c.tlsKey !== ''
}

function read(path: string, what: string): Buffer {
  try {
    return fs.readFileSync(path)
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} ${path}: ${(err as Error).message}`)
  }
}

/** The secure context options from the configured files; throws naming a file that cannot be used. */
export function secureContextOptions(c: Pick<TlsSettings, 'tlsCert' | 'tlsKey' | 'tlsCa'>): tls.SecureContextOptions {
  const opts: tls.SecureContextOptions = { cert: read(c.tlsCert, 'certificate'), key: read(c.tlsKey, 'key'), minVersion: 'TLSv1.2' }
  if (c.tlsCa) opts.ca = read(c.tlsCa, 'CA')
  try {
    tls.createSecureContext(opts)
  } catch (err) {
    throw new Error(`the TLS certificate ${c.tlsCert} and key ${c.tlsKey} cannot be used: ${(err as Error).message}`)
  }
  return opts
}

interface Pending {
  raw: net.Socket
  acceptedAt: number
  timer: NodeJS.Timeout
}

export class TlsAcceptor {
  private readonly server: tls.Server
  /** Sockets between accept and a finished handshake, by remote address:port. */
  private readonly pending = new Map<string, Pending>()

  constructor(
    private readonly settings: TlsSettings,
    onSecure: (socket: tls.TLSSocket, acceptedAt: number) => void,
    onClientError: (err: Error, remote: string) => void,
  ) {
    this.server = tls.createServer({
      ...secureContextOptions(settings),
      requestCert: settings.tlsCa !== '',
      rejectUnauthorized: settings.tlsVerifyClients,
      handshakeTimeout: settings.authTimeoutMs,
    })
    this.server.on('secureConnection', (socket: tls.TLSSocket) => {
      const key = remoteKey(socket)
      const p = this.pending.get(key)
      if (p) clearTimeout(p.timer)
      this.pending.delete(key)
      onSecure(socket, p?.acceptedAt ?? Date.now())
    })
    this.server.on('tlsClientError', (err, socket) => onClientError(err, remoteKey(socket)))
  }

  /** Read the certificate files again; keeps the old ones and throws when the new ones are unusable. */
  reload(): void {
    this.server.setSecureContext(secureContextOptions(this.settings))
  }

  /** Shutdown: close the sockets still before or in their handshake. */
  destroyPending(): void {
    for (const p of this.pending.values()) p.raw.destroy()
  }

  accept(raw: net.Socket, acceptedAt: number): void {
    const key = remoteKey(raw)
    const timer = setTimeout(() => raw.destroy(), this.settings.authTimeoutMs)
    timer.unref()
    this.pending.set(key, { raw, acceptedAt, timer })
    raw.on('error', () => {})
    raw.on('close', () => {
      clearTimeout(timer)
      if (this.pending.get(key)?.timer === timer) this.pending.delete(key)
    })
    raw.once('data', (first: Buffer) => {
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        clearTimeout(timer)
        const err = new SkiffError('BAD_FRAME', 'this port speaks TLS: connect with skiffs:// (and the CA that signed the broker certificate)')
        raw.end(encodeError(err))
        setTimeout(() => raw.destroy(), 200).unref()
        return
      }
      raw.pause()
      raw.unshift(first)
      this.server.emit('connection', raw)
    })
  }
}

function remoteKey(s: net.Socket): string {
  return `${s.remoteAddress}|${s.remotePort}`
}
