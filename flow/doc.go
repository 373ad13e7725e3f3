// Package flow plans which chunk to fetch from which peer. It is pure Go:
// no I/O, no network, no clocks.
//
// It has two parts: Graph, a max-flow network solved by Edmonds-Karp
// (shortest augmenting paths, found by breadth-first search, over int64
// capacities), and the planner: Compute makes a Plan from scratch, Replan
// updates one. (The function is not called Plan, the name of its result.)
// The chunk sets it reads, what is needed and what each peer holds, are
// chunkset.Sets (package peerflow/flow/chunkset, which also has their wire
// form); that package stands apart so that code which only tracks chunks
// need not import the planner.
//
// # Formulation
//
// N needed chunks of c bytes; peers p with rates r_p bytes/s, each holding
// a set of chunks; optionally an origin that holds every chunk. Needed
// chunks held by exactly the same peers form an availability class g, of
// n_g chunks and holders H_g. Chunks of one class are interchangeable, so
// the planner works on classes, and the graph's size depends on how many
// there are, not on N:
//
//	source --n_g--> class g --n_g--> each p in H_g --floor(r_p*T/c)--> sink
//
// A flow that fills every source edge is an assignment in which every
// peer is done by time T: integral capacities give an integral maximum
// flow, and a class's share on edge g->p is that many of its chunks.
//
// # Least makespan
//
// The capacities change only at breakpoints T = k*c/r_p, so the least T is
// one of them; with tau = T/c = k/r every capacity is floor(r_p*k/r), and
// every comparison of two breakpoints is one of k1*r2 with k2*r1: both
// are computed exactly with 128-bit products (math/bits), never with
// floats. Chunk size cancels out.
//
// The search starts at the fluid lower bound of all holders together, the
// least tau with sum_p floor(r_p*tau) >= N (found from the real-valued
// bound N/sum r_p by stepping over at most one breakpoint per peer). While
// the max flow at tau falls short, its minimum cut (the nodes the last
// breadth-first search reached) is a set S of classes and of all their
// holders whose capacity is below the chunks of S: any feasible tau' must
// have sum_{p in S} floor(r_p*tau') >= sum_{g in S} n_g. The least such
// tau' is again a lower bound, and strictly above tau, so it is the next
// one tried. The first tau whose max flow carries every chunk is therefore
// the least makespan: it is feasible, and no smaller one is. Plan.Makespan
// is that T; it equals the busiest holder's time, load*c/rate. The
// 1M-chunk benchmark, whose makespan is set by a class that one slow peer
// alone holds, takes three rounds; the scattered one takes one.
//
// With an origin, the peers' maximum flow at T is found first, and only
// then is the origin's edge opened. An augmenting path never lowers a
// peer's total (only its last edge, the origin's, changes a total), so
// the origin carries exactly what the peers cannot deliver within T, and
// T is the least with the origin's help.
//
// # Complexity
//
// Grouping reads every peer's bitset once, 64 chunks at a time (see
// classify): O(P*N/64) word operations, plus, for words with new classes,
// a 64x64 bit transpose per 64 peers (6*32 swaps) and a hash lookup per
// chunk. The graph has V = C + P + 3 nodes and E = C + P + 1 + sum_g |H_g|
// edges for C classes. Edmonds-Karp needs O(V*E) augmentations in the
// worst case, each a breadth-first search in O(E); it only routes what the
// first guess left over (below), and stops searching at the first path.
// Dealing the chunks into queues is one O(N) walk. A replan that reuses
// the classes is O(N + E), plus O(N/64) to fingerprint each bitset that
// was passed anew rather than kept.
//
// # The scattered worst case
//
// When every chunk has its own holder set (65,536 chunks, 64 peers, each
// holding each chunk with probability 1/2), C is close to N and the graph
// has some two million edges: textbook Edmonds-Karp from an empty flow
// runs one search over it per chunk and takes minutes. Two things make it
// cheap here. First, every tau starts from a guess: a previous plan's
// shares (cut down to the capacities) or, for a new plan, a greedy fill,
// rarest class first, onto the holder with the most room left. When the
// guess already carries every chunk it is a maximum flow, the bound is met
// and the plan is optimal, and no graph is built at all; that is what
// happens on BenchmarkPlanScattered (no augmenting path, one round).
// Second, when the guess falls short, the graph is built once (edge IDs
// are laid out like the (class, holder) cells, so nothing maps one to the
// other), the guess is loaded with Graph.SetFlow, and Edmonds-Karp routes
// only the shortfall.
//
// # The compressible large case
//
// For 2^20 chunks among 100 peers with 20 holder sets, grouping is most of
// the work. Once the few classes are known, a small decision tree over a
// handful of peers' bits splits each word among them with a few ANDs, and
// a check against every peer's word (each must be the union of its
// classes' chunks) proves the split exact; a word that fails it holds a
// new class and goes through the transpose. Peers' words are copied a
// block at a time so that reading them is sequential, and the two halves
// of need are grouped, and later dealt, by two goroutines at once.
//
// # Queues
//
// RarestFirst queues hold their chunks by class, fewest holders first,
// ties between classes broken by a seeded hash. A class's chunks are
// handed out in one walk over the chunks from a seeded start, each holder
// taking a run of neighbouring ones, so downloaders with different seeds
// ask a sole sharer for different chunks first. Sequential queues are in
// position order from Options.From, wrapping around; there a class's
// chunks are spread evenly over its holders, so that every peer works
// near the play position.
//
// # Replanning
//
// Replan starts from the previous shares: chunks stay with their peer, and
// the flow at the new least makespan is augmented from there, so a chunk
// moves only along an augmenting path, that is when the new makespan
// cannot be met without moving it; breadth-first search takes direct
// paths (no move) before longer ones. Within a queue, kept chunks come
// before new ones. When no remaining peer's holdings changed and no chunk
// became needed again, the classes are reused and no bitset is grouped
// again; otherwise they are recomputed, and the previous holders are
// still the starting point. A plan remembers each chunk set it was given
// and the set's change count (chunkset.Set.Changes), so one updated in
// place is noticed at no cost; a set passed anew is compared by a
// fingerprint of its words.
//
// Only the makespan is minimized. A peer whose help would not make the
// whole finish sooner may be left with little or no work; using idle
// peers at the end (endgame) is the transfer layer's job.
package flow
