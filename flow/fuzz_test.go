package flow

import (
	"fmt"
	"testing"

	"peerflow/flow/chunkset"
)

// fuzzInput reads an instance out of fuzz bytes; past the end it reads 0.
type fuzzInput []byte

func (f *fuzzInput) byte() byte {
	if len(*f) == 0 {
		return 0
	}
	b := (*f)[0]
	*f = (*f)[1:]
	return b
}

// bitset reads ceil(n/8) bytes in wire form, padding bits cleared.
func (f *fuzzInput) bitset(n int) *chunkset.Set {
	p := make([]byte, (n+7)/8)
	for i := range p {
		p[i] = f.byte()
	}
	if r := n % 8; r != 0 {
		p[len(p)-1] &= 0xff << (8 - r)
	}
	b, err := chunkset.FromBytes(p, n)
	if err != nil {
		panic(err)
	}
	return b
}

func (f *fuzzInput) instance() (*chunkset.Set, []Peer, Options) {
	n := int(f.byte()) % 140
	peers := make([]Peer, f.byte()%7)
	flags := f.byte()
	opts := Options{
		ChunkSize:   1 + int64(f.byte()),
		DefaultRate: int64(flags>>2) % 4,
		Order:       Order(flags & 1),
		Seed:        uint64(f.byte()),
	}
	if flags&2 != 0 {
		opts.OriginRate = 1 + int64(f.byte()%16)
	}
	if n > 0 {
		opts.From = int(f.byte()) % n
	}
	need := f.bitset(n)
	for i := range peers {
		peers[i] = Peer{ID: fmt.Sprint(i), Rate: int64(f.byte()%12) - 2}
		if f.byte()%5 > 0 {
			peers[i].Has = f.bitset(n)
		}
	}
	return need, peers, opts
}

// FuzzPlan plans arbitrary small instances, then replans after a change
// read from the same bytes. Neither may fail; both must satisfy checkPlan
// and reach the least makespan, which for up to 8 chunks and 4 peers is
// checked by brute force and otherwise against a plan made from scratch.
func FuzzPlan(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{8, 3, 0, 0, 1, 0, 0xff, 1, 1, 0xf0, 5, 1, 0x0f, 0, 0})
	f.Add([]byte{8, 2, 2, 0, 9, 3, 4, 0xff, 3, 1, 0x81, 7, 1, 0x7e, 1, 0, 2})
	f.Add([]byte{70, 4, 1, 9, 1, 33, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xc0})
	f.Add([]byte{139, 6, 7, 255, 255, 255, 255, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17})
	f.Fuzz(func(t *testing.T, data []byte) {
		in := fuzzInput(data)
		need, peers, opts := in.instance()
		p, err := Compute(need, peers, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, need, peers, opts, p)
		checkBest(t, need, peers, opts, p)

		nextNeed, nextPeers := need.Clone(), append([]Peer(nil), peers...)
		switch in.byte() % 5 {
		case 0:
			if len(nextPeers) > 0 {
				i := int(in.byte()) % len(nextPeers)
				nextPeers = append(nextPeers[:i], nextPeers[i+1:]...)
			}
		case 1:
			nextPeers = append(nextPeers, Peer{ID: "joined", Has: in.bitset(need.Len()), Rate: int64(in.byte())})
		case 2:
			for i := range nextPeers {
				nextPeers[i].Rate = int64(in.byte()) - 1
			}
		case 3:
			done := in.bitset(need.Len())
			nextNeed.AndNot(done)
		case 4: // in place, as updates from have messages would be
			if i, c := int(in.byte()), int(in.byte()); len(peers) > 0 && peers[i%len(peers)].Has != nil && need.Len() > 0 {
				if has := peers[i%len(peers)].Has; has.Has(c % need.Len()) {
					has.Clear(c % need.Len())
				} else {
					has.Set(c % need.Len())
				}
			}
		}
		q, err := Replan(p, peers, nextNeed, nextPeers, opts)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, nextNeed, nextPeers, opts, q)
		checkBest(t, nextNeed, nextPeers, opts, q)
	})
}

func checkBest(t *testing.T, need *chunkset.Set, peers []Peer, opts Options, p *Plan) {
	t.Helper()
	if need.Count() <= 8 && len(peers) <= 4 {
		checkOptimal(t, need, peers, opts, p)
		return
	}
	fresh, err := Compute(need, peers, opts)
	if err != nil {
		t.Fatal(err)
	}
	if p.Makespan != fresh.Makespan || len(p.Origin) != len(fresh.Origin) {
		t.Fatalf("makespan %v with %d from the origin; from scratch %v with %d", p.Makespan, len(p.Origin), fresh.Makespan, len(fresh.Origin))
	}
}
