/**
 * Topic patterns: `*` one token, `>` the rest, everything else literal; names
 * in requests are always literal, so a wildcard inside a requested name can
 * never widen what a pattern grants.
 */
import t from 'tap'
import fc from 'fast-check'
import { compilePattern, matches, patternProblem, isPlainName } from '../../broker/auth/patterns.js'

const m = (pattern: string, name: string) => matches(compilePattern(pattern), name)

t.test('what each wildcard matches', async (t) => {
  const cases: [string, string, boolean][] = [
    ['orders', 'orders', true],
    ['orders', 'orders2', false],
    ['orders', 'Orders', false],
    ['orders', 'orders.eu', false],
    ['orders.*', 'orders.eu', true],
    ['orders.*', 'orders', false],
    ['orders.*', 'orders.eu.paid', false],
    ['orders.>', 'orders.eu', true],
    ['orders.>', 'orders.eu.paid', true],
    ['orders.>', 'orders', false],
    ['orders.>', 'ordersx.eu', false],
    ['*.created', 'orders.created', true],
    ['*.created', 'created', false],
    ['*', 'orders', true],
    ['*', 'orders.eu', false],
    ['>', 'orders', true],
    ['>', 'orders.eu.paid', true],
    ['a.*.c.>', 'a.b.c.d', true],
    ['a.*.c.>', 'a.b.c', false],
    ['orders.>', 'orders.dlq', true],
    ['orders', 'orders.dlq', false],
  ]
  for (const [p, n, want] of cases) t.equal(m(p, n), want, `${p} ${want ? 'matches' : 'does not match'} ${n}`)
})

t.test('wildcards inside a requested name are literal and never widen a grant', async (t) => {
  t.notOk(m('orders.created', 'orders.*'), 'a literal pattern does not match a name holding *')
  t.notOk(m('orders.created', 'orders.>'), 'nor >')
  t.notOk(m('orders.*', 'orders.>'), '> in a name is not a wildcard')
  t.notOk(m('orders.*', 'orders.*'), 'and names with wildcard characters are refused outright')
  t.notOk(m('>', '>'))
  t.notOk(m('>', '*'))
  for (const name of ['#', '+', 'orders.#', 'orders.+', 'a\u0000b', 'ordérs', '\u{1F600}', 'orders..x', '.orders', 'orders.', '', 'a b']) {
    t.notOk(m('>', name), `"${name}" is matched by nothing, not even >`)
  }
})

t.test('pattern syntax', async (t) => {
  for (const ok of ['orders', 'orders.*', 'orders.>', '*', '>', '*.*.>', 'a_b-c.D9']) t.equal(patternProblem(ok), undefined, ok)
  for (const bad of ['', 'orders..x', '.orders', 'orders.', '>.orders', 'orders.>.x', 'ord*', 'or>ders', 'orders.#', 'a b', 'ü', 'x'.repeat(250), 42, null]) {
    t.type(patternProblem(bad), 'string', `${JSON.stringify(bad)} is refused`)
  }
  t.throws(() => compilePattern('a..b'), /empty token/)
})

// Arbitrary short names over an alphabet rich in separators and wildcard characters.
const alphabet = fc.constantFrom('a', 'b', '.', '*', '>', '#', '+', '\u0000', 'é', '-')
const anyName = fc.array(alphabet, { minLength: 0, maxLength: 8 }).map((cs) => cs.join(''))
const plainPattern = fc
  .array(fc.constantFrom('a', 'b', 'ab', '*'), { minLength: 1, maxLength: 4 })
  .chain((toks) => fc.boolean().map((tail) => (tail ? [...toks, '>'] : toks).join('.')))

t.test('property: a name that is not plain is matched by no pattern', async (t) => {
  fc.assert(
    fc.property(plainPattern, anyName, (p, name) => {
      if (!isPlainName(name)) return !m(p, name)
      return true
    }),
    { numRuns: 2000 },
  )
  t.pass('2000 runs')
})

t.test('property: a literal pattern matches exactly its own text', async (t) => {
  const literal = fc.array(fc.constantFrom('a', 'b', 'ab'), { minLength: 1, maxLength: 4 }).map((x) => x.join('.'))
  fc.assert(
    fc.property(literal, anyName, (p, name) => m(p, name) === (p === name)),
    { numRuns: 2000 },
  )
  t.pass('2000 runs')
})

t.test('property: a wildcard pattern matches what the token rule says', async (t) => {
  const plainName = fc.array(fc.constantFrom('a', 'b', 'ab'), { minLength: 1, maxLength: 5 }).map((x) => x.join('.'))
  const reference = (p: string, n: string): boolean => {
    const pt = p.split('.')
    const nt = n.split('.')
    if (pt[pt.length - 1] === '>') return nt.length >= pt.length && pt.slice(0, -1).every((tok, i) => tok === '*' || tok === nt[i])
    return nt.length === pt.length && pt.every((tok, i) => tok === '*' || tok === nt[i])
  }
  fc.assert(
    fc.property(plainPattern, plainName, (p, n) => m(p, n) === reference(p, n)),
    { numRuns: 3000 },
  )
  t.pass('3000 runs')
})
