package attachment_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/wardchat/ward/attachment"
)

func Example() {
	// Sender: encrypt, upload the ciphertext, put the pointer in the
	// franked message content.
	var blob bytes.Buffer
	ptr, err := attachment.Encrypt(&blob, strings.NewReader("a small file"), rand.Reader)
	if err != nil {
		panic(err)
	}
	ptr.ContentType, ptr.FileName = "text/plain", "note.txt"
	content, err := ptr.Marshal()
	if err != nil {
		panic(err)
	}

	// Receiver: parse the pointer from the opened message and decrypt.
	got, err := attachment.ParsePointer(content)
	if err != nil {
		panic(err)
	}
	var out bytes.Buffer
	if err := attachment.Decrypt(&out, bytes.NewReader(blob.Bytes()), got.Secret, got.PlaintextDigest); err != nil {
		panic(err) // discard out
	}
	fmt.Println(out.String(), got.CiphertextSize == attachment.CiphertextSize(got.PlaintextSize))
	// Output: a small file true
}
