package franking_test

import (
	"crypto/rand"
	"fmt"

	"github.com/wardchat/ward/franking"
)

// Example walks one message from sender to moderator.
func Example() {
	alice, bob := [16]byte{0xa1}, [16]byte{0xb0}

	// The server's tag keys (kept secret, persisted with Keyring.Marshal).
	kr, err := franking.GenerateKeyring(rand.Reader)
	if err != nil {
		panic(err)
	}

	// Alice franks her first message to Bob: no previous message, nothing
	// received yet. The plaintext is what her session encrypts; c travels
	// beside the ciphertext.
	plaintext, c, err := franking.Frank(rand.Reader, []byte("hello bob"), franking.Commitment{}, franking.Commitment{})
	if err != nil {
		panic(err)
	}

	// The server accepts the message and tags c in its delivery context.
	ctx := franking.Context{Commitment: c, Kind: franking.Direct, SenderAccount: alice, SenderDevice: 1,
		Conversation: bob[:], Timestamp: 1_700_000_000_000, MessageID: [16]byte{1}}
	tag, err := kr.Tag(ctx)
	if err != nil {
		panic(err)
	}

	// Bob decrypts and checks the commitment.
	msg, err := franking.Open(plaintext, c)
	if err != nil {
		panic(err) // a real client drops the message
	}
	fmt.Printf("bob reads %q\n", msg.Content)

	// Bob reports it; the server verifies the report.
	report, _ := franking.MarshalReport([]franking.ReportedMessage{{Plaintext: plaintext, Commitment: c, Tag: tag[:], Context: ctx}})
	items, err := franking.ParseReport(report)
	if err != nil {
		panic(err)
	}
	tr, err := franking.VerifyReport(kr, bob, items)
	if err != nil {
		panic(err)
	}
	fmt.Printf("verified %q, complete %v\n", tr.Items[0].Content, tr.Complete)
	for _, m := range tr.Items[0].Marks {
		fmt.Printf("[%v] %s\n", m.Code.Severity(), m.Reason)
	}

	// Output:
	// bob reads "hello bob"
	// verified "hello bob", complete true
	// [info] is the sender's first message in the conversation
	// [info] the sender had received nothing in the conversation
}
