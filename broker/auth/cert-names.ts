/**
 * The names a verified client certificate speaks for, in the order they are
 * tried against the auth file's user names: the subject CN, then each
 * subjectAltName of type DNS, email and URI (IP addresses are left out: an
 * address is where a client is, not who it is).
 *
 * Only a certificate the TLS layer verified against `--tls-ca` is read; an
 * unverified one names nobody.
 */
import type { TLSSocket } from 'node:tls'

export function certificateNames(socket: unknown): string[] {
  const s = socket as Partial<TLSSocket>
  if (typeof s.getPeerCertificate !== 'function' || s.authorized !== true) return []
  const cert = s.getPeerCertificate(false)
  if (!cert || Object.keys(cert).length === 0) return []
  const names: string[] = []
  const cn = cert.subject?.CN as string | string[] | undefined
  for (const n of Array.isArray(cn) ? cn : cn ? [cn] : []) names.push(n)
  for (const part of splitAltNames(cert.subjectaltname ?? '')) {
    const m = /^(DNS|email|URI):(.*)$/.exec(part)
    if (m && m[2]) names.push(m[2])
  }
  return names
}

/** "DNS:a, email:b" -> ["DNS:a", "email:b"]; Node quotes entries holding a comma as JSON strings. */
function splitAltNames(value: string): string[] {
  const out: string[] = []
  const re = /\s*([A-Za-z ]+:)("(?:[^"\\]|\\.)*"|[^,]*)\s*(?:,|$)/g
  for (let m = re.exec(value); m && m[0] !== ''; m = re.exec(value)) {
    let v = m[2]!
    if (v.startsWith('"')) {
      try {
        v = JSON.parse(v) as string
      } catch {
        continue
      }
    }
    out.push(m[1]! + v)
  }
  return out
}
