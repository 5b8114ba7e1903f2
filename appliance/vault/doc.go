// Package vault keeps evidence: content-addressed files that are written
// once and never changed, a bbolt index of item records, and the append-only
// custody chain with signed checkpoints of its head.
//
// On disk, under the data directory:
//
//	objects/ab/abcdef…      the bytes of item abcdef…, read-only, never overwritten
//	tmp/                    files being written; anything left here after a crash is removed
//	keys/appliance.key      Ed25519 private key (0600), made on first open
//	keys/appliance.pub      its public key, hex, for whoever verifies exports
//	index.db                the bbolt index
//
// The bbolt bucket tree (the only place it is described):
//
//	meta/
//	    schema_version  -> uint64 big-endian: which migrations have run
//	    appliance_id    -> key id of the signing key the chain was started with
//	    key_recorded    -> set with the key-created event, so that event is written exactly once
//	items/
//	    <digest 32 bytes> -> JSON evidence.Item
//	custody/
//	    <seq uint64 big-endian> -> JSON evidence.CustodyEvent
//	checkpoints/
//	    <seq uint64 big-endian> -> JSON evidence.Checkpoint
//	item_events/            (schema 2) per-item index of the chain
//	    <digest 32 bytes><seq 8 bytes> -> empty
//	tree/                   (schema 4) the custody log's Merkle tree, tlog's stored-hash layout
//	    <stored hash index uint64 big-endian> -> 32-byte hash
//	log_checkpoints/        (schema 4) signed checkpoint notes (C2SP), the newest per tree size
//	    <tree size uint64 big-endian> -> note bytes
//	cosignatures/           (schema 4) checkpoints witnesses co-signed
//	    <tree size uint64 big-endian><witness name> -> note bytes
//	timestamps/             (schema 5) RFC 3161 tokens over checkpoint notes
//	    <tree size uint64 big-endian> -> JSON evidence.CheckpointTimestamp (the note stamped, the token)
//	state/                  (schema 3) small durable state of other parts of the
//	    <component>/<key> -> bytes        daemon (queues, cursors), one sub-bucket each
//
// Every write of an item record goes with a custody event carrying the hash
// of the new record (detail "record"), in the same transaction, so verify can
// tell a record changed through the vault from one edited behind its back.
package vault
