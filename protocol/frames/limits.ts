/**
 * How far the frame decoders read fields whose limits more than one frame
 * shares. Kept out of the package's exports: these bound decoding, and the
 * limits a client relies on are the ones in names.ts, frames/admin.ts, etc.
 */
import { MAX_TOPIC_NAME } from '../names.js'

/**
 * Topic and group fields are decoded up to the topic-name limit. Groups of
 * 201-249 characters still decode, so that checkName, not the frame decoder,
 * says what is wrong with them.
 */
export const MAX_NAME_FIELD = MAX_TOPIC_NAME

/** Most records one PUBLISH may carry, and so most entries in its PUBLISH_ACK. */
export const MAX_PUBLISH_RECORDS = 1_000_000
