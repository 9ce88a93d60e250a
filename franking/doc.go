// Package franking implements Ward's message franking: verifiable abuse
// reports for end-to-end encrypted messages, and verifiable transcripts that
// prove the order of a reported stretch of conversation and that nothing was
// left out of it (DESIGN.md, section 2, "Message franking" and "Verifiable
// transcripts").
//
// # The three parties
//
// The sender franks every message with [Frank]: it draws a fresh 32-byte
// franking key fk from the injected randomness, puts fk inside the plaintext
// that the session layer (Double Ratchet or MLS) encrypts, and sends the
// commitment c = HMAC-SHA256(fk, committed bytes) outside the ciphertext. The
// plaintext also carries two links that make a transcript: Prev, the
// commitment of the same sender device's previous message in the
// conversation, and LastSeen, the commitment of the latest message the sender
// had received in it (after Namavari and Ristenpart, "Transcript Franking for
// Encrypted Messaging", 2025). The SDK keeps those two values per
// conversation; this package does not hold state for it.
//
// The server never sees the plaintext. When it accepts a message it binds c
// to the delivery context (sender account and device, conversation,
// timestamp, message id) with its own keyed tag, [Keyring.Tag], and delivers
// the tag with the message. Tag keys rotate: a [Keyring] holds the current
// key, which tags, and retired keys, which still verify until the server
// drops them.
//
// The receiver decrypts and calls [Open], which rejects a message whose
// commitment does not open. It keeps the plaintext bytes, c, the tag and the
// context so that it can report the message later.
//
// # Reports
//
// To report, a user reveals for each message the franked plaintext bytes
// (which include fk), c, the tag and the context: a [ReportedMessage]. The
// server calls [VerifyReport] (or [VerifyGroupReport]); it checks that every
// commitment opens, that every tag verifies for exactly that context, that
// the reporter took part in the conversation, and then rebuilds the
// transcript: items sorted by (timestamp, message id), each with a verified
// flag, a GapBefore flag when the sender's hash chain shows that a message was
// left out, and [Mark]s that explain every finding. A single forged item
// rejects the whole report with a [*ItemError] naming it.
//
// # Purity
//
// The package does no I/O, keeps no clock and draws no global randomness:
// randomness comes from the io.Reader passed in, timestamps come from the
// caller. Keyring values are safe for concurrent use.
package franking
