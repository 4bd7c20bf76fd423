/**
 * Topic and group names become directory names, so they are checked here,
 * before anything touches a path: 1-249 characters of [A-Za-z0-9._-], and not
 * "." or "..". Topics ending in ".dlq" are dead-letter topics: the broker
 * creates and writes them; clients read them.
 */
import { SkiffError } from './errors.js'

const NAME = /^[A-Za-z0-9._-]{1,249}$/
export const DLQ_SUFFIX = '.dlq'

export function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return 'must be a string'
  if (!NAME.test(name)) return 'must be 1-249 characters of A-Z a-z 0-9 . _ -'
  if (name === '.' || name === '..') return 'must not be "." or ".."'
  return undefined
}

export function checkName(kind: 'topic' | 'group', name: unknown): string {
  const problem = nameProblem(name)
  if (problem) throw new SkiffError('INVALID_REQUEST', `${kind} name ${JSON.stringify(name)} ${problem}`)
  return name as string
}

export function isDeadLetterTopic(topic: string): boolean {
  return topic.endsWith(DLQ_SUFFIX)
}

export function deadLetterTopicOf(topic: string): string {
  return topic + DLQ_SUFFIX
}

/** The topic a dead-letter chain starts from: "a.dlq.dlq" -> "a". */
export function originTopicOf(topic: string): string {
  let t = topic
  while (t.endsWith(DLQ_SUFFIX) && t.length > DLQ_SUFFIX.length) t = t.slice(0, -DLQ_SUFFIX.length)
  return t
}
