package mls

import (
	"fmt"
	"testing"
)

func init() {
	register("tree-validation.json", func(t *testing.T, c *struct {
		CipherSuite uint16     `json:"cipher_suite"`
		Tree        hexBytes   `json:"tree"`
		GroupID     hexBytes   `json:"group_id"`
		TreeHashes  []hexBytes `json:"tree_hashes"`
		Resolutions [][]uint32 `json:"resolutions"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		tree, err := decodeRatchetTree(s, c.Tree)
		if err != nil {
			return err
		}
		if len(tree.nodes) != len(c.TreeHashes) {
			return fmt.Errorf("tree has %d nodes, want %d", len(tree.nodes), len(c.TreeHashes))
		}
		for i := range tree.nodes {
			if err := expectEqual(fmt.Sprintf("tree hash %d", i), tree.treeHash(nodeIndex(i)), c.TreeHashes[i]); err != nil {
				return err
			}
			res := tree.resolution(nodeIndex(i))
			if len(res) != len(c.Resolutions[i]) {
				return fmt.Errorf("resolution %d: got %v want %v", i, res, c.Resolutions[i])
			}
			for j := range res {
				if uint32(res[j]) != c.Resolutions[i][j] {
					return fmt.Errorf("resolution %d: got %v want %v", i, res, c.Resolutions[i])
				}
			}
		}
		return tree.verifyStructure(c.GroupID)
	})

	register("tree-operations.json", func(t *testing.T, c *struct {
		CipherSuite    uint16   `json:"cipher_suite"`
		Proposal       hexBytes `json:"proposal"`
		ProposalSender uint32   `json:"proposal_sender"`
		TreeBefore     hexBytes `json:"tree_before"`
		TreeAfter      hexBytes `json:"tree_after"`
		TreeHashBefore hexBytes `json:"tree_hash_before"`
		TreeHashAfter  hexBytes `json:"tree_hash_after"`
	}) error {
		s, err := suiteOrSkip(c.CipherSuite)
		if err != nil {
			return err
		}
		tree, err := decodeRatchetTree(s, c.TreeBefore)
		if err != nil {
			return err
		}
		if err := expectEqual("tree hash before", tree.rootHash(), c.TreeHashBefore); err != nil {
			return err
		}
		p := new(proposal)
		if err := decodeAll(c.Proposal, "proposal", p.unmarshal); err != nil {
			return err
		}
		switch p.typ {
		case proposalAdd:
			tree.addLeaf(&p.add.leafNode)
		case proposalUpdate:
			tree.blankPath(leafIndex(c.ProposalSender))
			tree.setNode(leafIndex(c.ProposalSender).node(), node{leaf: p.update})
		case proposalRemove:
			tree.removeLeaf(p.remove)
		default:
			return fmt.Errorf("unexpected proposal type %d", p.typ)
		}
		if err := expectEqual("tree after", encode(tree), c.TreeAfter); err != nil {
			return err
		}
		return expectEqual("tree hash after", tree.rootHash(), c.TreeHashAfter)
	})
}
