package mls

import "errors"

// Wire formats of MLSMessage (RFC 9420, Section 6), as reported by
// InspectMessage.
const (
	WireFormatPublicMessage  = wireFormatPublicMessage
	WireFormatPrivateMessage = wireFormatPrivateMessage
	WireFormatWelcome        = wireFormatWelcome
	WireFormatGroupInfo      = wireFormatGroupInfo
	WireFormatKeyPackage     = wireFormatKeyPackage
)

// Content types of framed messages (RFC 9420, Section 6).
const (
	ContentApplication = contentApplication
	ContentProposal    = contentProposal
	ContentCommit      = contentCommit
)

// MessageInfo is what a party outside the group (the delivery service) can
// read from an MLSMessage without any key: enough to route it, order
// handshake messages per group and epoch, and apply roster policy to
// PublicMessage commits. Nothing in it is authenticated: a member verifies
// everything in ProcessMessage.
type MessageInfo struct {
	WireFormat  uint16
	GroupID     []byte // framed messages and GroupInfo
	Epoch       uint64 // framed messages and GroupInfo
	ContentType uint8  // framed messages
	// Sender is known for PublicMessages only (PrivateMessages encrypt it).
	Sender *Sender
	// For a PublicMessage commit or proposal: the leaves it removes and the
	// number of members it adds (by value).
	Removes []uint32
	Adds    int
	// CipherSuite for Welcome, GroupInfo and KeyPackage.
	CipherSuite CipherSuite
}

// InspectMessage decodes the public parts of an MLSMessage.
func InspectMessage(msg []byte) (*MessageInfo, error) {
	m, err := decodeMLSMessage(msg)
	if err != nil {
		return nil, err
	}
	info := &MessageInfo{WireFormat: m.wireFormat}
	count := func(p *proposal) {
		switch p.typ {
		case proposalAdd:
			info.Adds++
		case proposalRemove:
			info.Removes = append(info.Removes, uint32(p.remove))
		}
	}
	switch {
	case m.public != nil:
		c := &m.public.content
		info.GroupID, info.Epoch, info.ContentType = cloneBytes(c.groupID), c.epoch, c.contentType
		info.Sender = &Sender{Type: c.sender.typ, Index: c.sender.index}
		switch c.contentType {
		case contentProposal:
			count(c.proposal)
		case contentCommit:
			for _, p := range c.commit.proposals {
				if p.proposal != nil {
					count(p.proposal)
				}
			}
		}
	case m.private != nil:
		info.GroupID, info.Epoch, info.ContentType = cloneBytes(m.private.groupID), m.private.epoch, m.private.contentType
	case m.welcome != nil:
		info.CipherSuite = m.welcome.cipherSuite
	case m.groupInfo != nil:
		gc := &m.groupInfo.groupContext
		info.GroupID, info.Epoch, info.CipherSuite = cloneBytes(gc.groupID), gc.epoch, gc.cipherSuite
	case m.keyPackage != nil:
		info.CipherSuite = m.keyPackage.cipherSuite
	default:
		return nil, errors.New("mls: empty message")
	}
	return info, nil
}
