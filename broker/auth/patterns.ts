/**
 * Topic patterns of the auth file. A pattern is dot-separated tokens: `*`
 * matches exactly one token, `>` (last token only) matches one or more
 * tokens, anything else matches itself. `orders.*` matches `orders.eu` but not
 * `orders` or `orders.eu.paid`; `orders.>` matches both of the latter but not
 * `orders`.
 *
 * Decisions written down here:
 * - Names in requests are literal. A requested topic is only ever compared
 *   token by token, so a `*` or `>` inside it is just a character that must
 *   equal the pattern's token; a name cannot widen what a pattern grants.
 *   On top of that, `isPlainName` refuses any requested name with a wildcard
 *   character or an empty token before matching (the protocol's name check
 *   refuses the characters too; this does not rely on it).
 * - An empty token (`a..b`, `.a`, `a.`) is matched by nothing. Wildcards match
 *   non-empty tokens only, and patterns cannot contain empty tokens, so such
 *   names are refused to every user when auth is on.
 * - Matching is case-sensitive, as topic names are.
 */
import { MAX_TOPIC_NAME } from '../../protocol/names.js'

/** Characters of one literal token: what a topic name allows, minus the separator. */
const TOKEN = /^[A-Za-z0-9_-]+$/
/** Patterns name topics, so they are held to the length a client may give a topic. */
const MAX_PATTERN_LENGTH = MAX_TOPIC_NAME

export interface Pattern {
  readonly source: string
  readonly tokens: readonly string[]
}

/** Why `source` is not a valid pattern, or undefined when it is. */
export function patternProblem(source: unknown): string | undefined {
  if (typeof source !== 'string') return 'must be a string'
  if (source.length === 0 || source.length > MAX_PATTERN_LENGTH) return `must be 1-${MAX_PATTERN_LENGTH} characters`
  const tokens = source.split('.')
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!
    if (tok === '') return 'has an empty token (two dots in a row, or a leading or trailing dot)'
    if (tok === '>') {
      if (i !== tokens.length - 1) return '">" may only be the last token'
      continue
    }
    if (tok === '*') continue
    if (!TOKEN.test(tok)) return `token ${JSON.stringify(tok)} must be "*", ">" or letters, digits, "_" and "-" (wildcards are whole tokens)`
  }
  return undefined
}

export function compilePattern(source: string): Pattern {
  const problem = patternProblem(source)
  if (problem) throw new Error(`pattern ${JSON.stringify(source)} ${problem}`)
  return { source, tokens: source.split('.') }
}

/** True when every token of `name` is a non-empty literal token (no wildcard characters). */
export function isPlainName(name: string): boolean {
  if (name.length === 0) return false
  for (const tok of name.split('.')) if (!TOKEN.test(tok)) return false
  return true
}

/** Does the pattern cover the (literal) name? */
export function matches(pattern: Pattern, name: string): boolean {
  if (!isPlainName(name)) return false
  const n = name.split('.')
  const p = pattern.tokens
  for (let i = 0; i < p.length; i++) {
    const tok = p[i]!
    if (tok === '>') return n.length > i
    if (i >= n.length) return false
    if (tok !== '*' && tok !== n[i]) return false
  }
  return n.length === p.length
}

export function matchesAny(patterns: readonly Pattern[], name: string): boolean {
  for (const p of patterns) if (matches(p, name)) return true
  return false
}
