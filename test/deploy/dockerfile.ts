/**
 * Just enough of Dockerfile and .dockerignore syntax to test what the image
 * does without a Docker engine: instructions grouped by stage (continuation
 * lines joined, comments dropped, exec-form arguments parsed), and Docker's
 * ignore-file matching (last matching pattern wins, a pattern that matches a
 * parent directory matches everything under it, `!` re-includes).
 */
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url))

export interface Instruction {
  op: string
  /** The raw arguments after the instruction name. */
  args: string
  /** The arguments in exec (JSON array) form, when written that way. */
  exec?: string[]
}

export interface Stage {
  base: string
  name?: string
  instructions: Instruction[]
}

export function parseDockerfile(text: string): { args: Instruction[]; stages: Stage[] } {
  const lines: string[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (/^\s*#/.test(line) && pending === '') continue
    if (/^\s*#/.test(line)) continue // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += line.slice(0, -1) + ' '
      continue
    }
    const full = (pending + line).trim()
    pending = ''
    if (full) lines.push(full)
  }
  const args: Instruction[] = []
  const stages: Stage[] = []
  for (const line of lines) {
    const m = /^(\S+)\s+(.*)$/s.exec(line)
    if (!m) throw new Error(`cannot read Dockerfile line: ${line}`)
    const op = m[1]!.toUpperCase()
    const rest = m[2]!.replace(/\s+/g, ' ').trim()
    const ins: Instruction = { op, args: rest }
    if (rest.startsWith('[')) {
      try {
        ins.exec = JSON.parse(rest) as string[]
      } catch {
        // shell form that happens to start with [
      }
    }
    if (op === 'FROM') {
      const f = /^(?:--platform=\S+ )?(\S+)(?: AS (\S+))?$/i.exec(rest)
      if (!f) throw new Error(`cannot read FROM ${rest}`)
      stages.push({ base: f[1]!, name: f[2], instructions: [] })
    } else if (stages.length === 0) {
      args.push(ins)
    } else {
      stages[stages.length - 1]!.instructions.push(ins)
    }
  }
  return { args, stages }
}

export function loadDockerfile() {
  return parseDockerfile(fs.readFileSync(`${repoRoot}Dockerfile`, 'utf8'))
}

/** ENV instructions of a stage as one map (both `K=V K2=V2` and `K V` forms). */
export function stageEnv(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {}
  for (const ins of stage.instructions.filter((i) => i.op === 'ENV')) {
    if (!ins.args.includes('=')) {
      const [k, ...v] = ins.args.split(' ')
      env[k!] = v.join(' ')
      continue
    }
    for (const m of ins.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S*)/g)) env[m[1]!] = m[2]!.replace(/^"|"$/g, '')
  }
  return env
}

/** COPY instructions: source paths, destination, and the stage they come from (undefined = build context). */
export function copies(stage: Stage): { from?: string; sources: string[]; dest: string }[] {
  return stage.instructions
    .filter((i) => i.op === 'COPY')
    .map((i) => {
      const words = i.exec ?? i.args.split(' ')
      const flags = words.filter((w) => w.startsWith('--'))
      const paths = words.filter((w) => !w.startsWith('--'))
      const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length)
      return { from, sources: paths.slice(0, -1), dest: paths[paths.length - 1]! }
    })
}

function globToRegExp(pattern: string): RegExp {
  let re = ''
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!
    if (c === '*' && pattern[i + 1] === '*') {
      re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*'
      i += pattern[i + 2] === '/' ? 2 : 1
    } else if (c === '*') re += '[^/]*'
    else if (c === '?') re += '[^/]'
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(`^${re}$`)
}

/** A .dockerignore as a predicate: is this context path (relative, / separated) sent to the builder? */
export function dockerignore(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!')
      const pattern = (negate ? l.slice(1) : l).replace(/^\/+|\/+$/g, '')
      return { negate, re: globToRegExp(pattern) }
    })
  return (path: string) => {
    const parts = path.split('/')
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'))
    let included = true
    for (const rule of rules) {
      if (prefixes.some((p) => rule.re.test(p))) included = rule.negate
    }
    return included
  }
}
