/**
 * Topic and group names become directory and file names, so they are checked
 * here, before anything touches a path: characters of [A-Za-z0-9._-] (one
 * byte each), not "." or "..", and short enough that every name made from
 * them fits in the 255 bytes a file name may have (ext4, xfs, btrfs, APFS,
 * NTFS):
 * - topics: 1-249 characters. A topic is a directory; the dead-letter topic
 *   the broker makes of it adds ".dlq" (253). A client can only read a
 *   dead-letter topic whose name passes this check, so the broker never
 *   makes a `.dlq.dlq` name past 253 either. Partition directories ("0" to
 *   "255") and segment files (20 digits + ".log") are short.
 * - groups: 1-200 characters. A group's state is `<group>.state`,
 *   `<group>.state.prev` and `<group>.state.tmp` (up to 11 more bytes: 244
 *   would be the most that fits); 200 keeps a margin for a later suffix
 *   without a migration, and is what Kafka tooling and metric labels handle
 *   comfortably. Names of 245-249 characters used to pass and then failed to
 *   save their position.
 * Topics ending in ".dlq" are dead-letter topics: the broker creates and
 * writes them; clients read them.
 */
import { SkiffError } from './errors.js'

export const MAX_TOPIC_NAME = 249
export const MAX_GROUP_NAME = 200
export const DLQ_SUFFIX = '.dlq'
/** The longest topic directory the broker itself makes: a topic a client may name, plus ".dlq" (253). */
export const MAX_STORED_TOPIC_NAME = MAX_TOPIC_NAME + DLQ_SUFFIX.length

const NAME_CHARS = /^[A-Za-z0-9._-]+$/

/** What is wrong with `name` as a topic name (or, with `maxLength`, any name bound for a path); undefined when nothing. */
export function nameProblem(name: unknown, maxLength = MAX_TOPIC_NAME): string | undefined {
  if (typeof name !== 'string') return 'must be a string'
  if (name.length < 1 || name.length > maxLength || !NAME_CHARS.test(name)) return `must be 1-${maxLength} characters of A-Z a-z 0-9 . _ -`
  if (name === '.' || name === '..') return 'must not be "." or ".."'
  return undefined
}

export function checkName(kind: 'topic' | 'group', name: unknown): string {
  const problem = nameProblem(name, kind === 'group' ? MAX_GROUP_NAME : MAX_TOPIC_NAME)
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
