package identity

// Context strings of the Ed25519ctx signatures (RFC 8032, Section 5.1) and of
// the hashes made by this package. Each purpose has its own, so that a
// signature or hash made for one purpose is never valid for another.
const (
	// ContextDeviceList is the context of the AIK's signature over an
	// encoded DeviceList.
	ContextDeviceList = "ward identity v1 device list"
	// ContextRotationOld is the context of the old AIK's signature over an
	// AccountKeyRotation.
	ContextRotationOld = "ward identity v1 account key rotation old key"
	// ContextRotationNew is the context of the new AIK's signature over an
	// AccountKeyRotation.
	ContextRotationNew = "ward identity v1 account key rotation new key"
	// ContextChallenge is the context of a device's signature over a server
	// authentication challenge.
	ContextChallenge = "ward identity v1 device challenge"
	// ContextLinkCode prefixes the encoded LinkOffer when hashing it into
	// the six-digit link code.
	ContextLinkCode = "ward identity v1 link code"
)
