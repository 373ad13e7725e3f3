package transfer

import (
	"context"

	"peerflow/core/content"
	"peerflow/core/trackerapi"
)

// Holder is a peer that holds chunks of a content, as a tracker reports it.
type Holder = trackerapi.Holder

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
