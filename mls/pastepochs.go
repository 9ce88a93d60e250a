package mls

// pastEpoch keeps what is needed to open application messages that were
// sent in an epoch that has since ended (messages racing a commit). Only
// application data is accepted from past epochs; handshake messages must be
// of the current epoch. How many epochs are kept is Config.PastEpochs.
type pastEpoch struct {
	keys epochKeys
	// sigKeys holds, for leaves whose signature key changed after this
	// epoch, the key the leaf had in it (nil: the leaf was blank).
	sigKeys map[leafIndex][]byte
}

// retireEpoch moves the current epoch's keys into the past list, records
// which leaves the commit being installed changes, and drops epochs beyond
// the configured limit. It must run before commitJournal.
func (g *Group) retireEpoch() {
	keep := g.cfg.PastEpochs
	if keep <= 0 {
		g.past = nil
		return
	}
	g.past = append(g.past, &pastEpoch{keys: g.epochKeys, sigKeys: map[leafIndex][]byte{}})
	if len(g.past) > keep {
		g.past = g.past[len(g.past)-keep:]
	}
	if g.tree.journal == nil {
		return
	}
	// The first journal entry of each leaf holds its node before the commit.
	for _, e := range *g.tree.journal {
		if e.slices || !e.x.isLeaf() {
			continue
		}
		l := e.x.leaf()
		var old []byte
		if e.n.leaf != nil {
			old = e.n.leaf.signatureKey
		}
		for _, p := range g.past {
			if _, seen := p.sigKeys[l]; !seen {
				p.sigKeys[l] = old
			}
		}
	}
	// Leaves that only changed by truncation (beyond the new width) keep
	// their recorded or current keys through the journal entries above.
}

// pastSignatureKey returns the signature key leaf l had in past epoch p.
func (g *Group) pastSignatureKey(p *pastEpoch, l leafIndex) []byte {
	if k, ok := p.sigKeys[l]; ok {
		return k
	}
	if ln := g.tree.leaf(l); ln != nil {
		return ln.signatureKey
	}
	return nil
}

// processPastApplication opens an application message of a past epoch.
func (g *Group) processPastApplication(pm *privateMessage) (Event, error) {
	if pm.contentType != contentApplication {
		return nil, ErrWrongEpoch
	}
	for _, p := range g.past {
		if p.keys.gc.epoch != pm.epoch {
			continue
		}
		ac, err := p.keys.unprotectPrivate(pm)
		if err != nil {
			return nil, err
		}
		pub := g.pastSignatureKey(p, leafIndex(ac.content.sender.index))
		if pub == nil || !ac.verify(g.s, pub, p.keys.gcBytes) {
			return nil, errSignature
		}
		c := &ac.content
		return &ApplicationMessage{Sender: c.sender.index, Epoch: c.epoch, Data: c.applicationData, AuthenticatedData: c.authenticatedData}, nil
	}
	return nil, ErrWrongEpoch
}
