package transfer

import (
	"context"

	"peerflow/core/content"
	"peerflow/core/peer"
	"peerflow/flow"
)

// Holder is a peer that holds chunks of a content, as a tracker reports it.
type Holder struct {
	Peer peer.ID
	Addr string       // host:port where it accepts connections
	Have *flow.Bitset // its chunks as last reported; nil if unknown
}

// HolderSource finds the holders of a content. The node's tracker pool
// implements it; a fixed list (StaticHolders) serves tests.
type HolderSource interface {
	Holders(ctx context.Context, m *content.Manifest) ([]Holder, error)
}

// StaticHolders is a fixed list of holders.
type StaticHolders []Holder

// Holders returns the list.
func (h StaticHolders) Holders(context.Context, *content.Manifest) ([]Holder, error) {
	return h, nil
}
