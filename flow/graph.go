package flow

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Graph errors. Each failure wraps one of these.
var (
	ErrNode         = errors.New("no such node")
	ErrSourceIsSink = errors.New("source and sink are the same node")
	ErrCapacity     = errors.New("capacity is negative or below the edge's flow")
	ErrFlow         = errors.New("flow is negative, above capacity, or not conserved")
	ErrOverflow     = errors.New("flow value does not fit in int64")
	ErrTooLarge     = errors.New("graph is too large")
)

// maxArcs keeps arc and node numbers within int32, which halves the memory
// the planner's largest graphs (millions of edges) take.
const maxArcs = math.MaxInt32 - 1

// Graph is a directed flow network with int64 capacities, solved by
// Edmonds-Karp: augment along a shortest residual path, found by
// breadth-first search, until none is left. Parallel edges and zero
// capacities are allowed. Flow put on edges with SetFlow is kept, and
// MaxFlow augments from it, so a good first guess saves most of the work.
type Graph struct {
	n int
	// Arc 2e is edge e and arc 2e+1 its reverse; residual of the reverse
	// arc is the edge's flow.
	head     []int32 // node each arc enters
	residual []int64 // capacity left on each arc

	// arcs[first[v]:first[v+1]] are the arcs leaving v. Rebuilt by MaxFlow
	// after edges were added.
	first []int32
	arcs  []int32
	stale bool

	via    []int32 // arc each node was reached by in the last search; unreached: -1
	queue  []int32
	hasCut bool // via holds the source side of a minimum cut
}

// NewGraph returns a graph with nodes 0..n-1 and no edges. It panics if n
// is negative or does not fit in int32.
func NewGraph(n int) *Graph {
	if n < 0 || n > math.MaxInt32 {
		panic(fmt.Sprintf("flow: graph size %d out of range", n))
	}
	return &Graph{n: n, stale: true}
}

// Nodes is the number of nodes.
func (g *Graph) Nodes() int { return g.n }

// Edges is the number of edges added.
func (g *Graph) Edges() int { return len(g.head) / 2 }

// Grow makes room for n more edges, so that adding them does not copy.
func (g *Graph) Grow(n int) {
	g.head = slices.Grow(g.head, 2*n)
	g.residual = slices.Grow(g.residual, 2*n)
}

// AddEdge adds an edge from -> to with the given capacity and returns its
// ID, which counts up from 0.
func (g *Graph) AddEdge(from, to int, capacity int64) (int, error) {
	if err := g.checkNode(from); err != nil {
		return 0, err
	}
	if err := g.checkNode(to); err != nil {
		return 0, err
	}
	if capacity < 0 {
		return 0, fmt.Errorf("add edge %d->%d with capacity %d: %w", from, to, capacity, ErrCapacity)
	}
	if len(g.head)+2 > maxArcs {
		return 0, fmt.Errorf("add edge %d->%d: %w", from, to, ErrTooLarge)
	}
	g.head = append(g.head, int32(to), int32(from))
	g.residual = append(g.residual, capacity, 0)
	g.stale, g.hasCut = true, false
	return len(g.head)/2 - 1, nil
}

func (g *Graph) checkNode(v int) error {
	if v < 0 || v >= g.n {
		return fmt.Errorf("node %d of a %d-node graph: %w", v, g.n, ErrNode)
	}
	return nil
}

func (g *Graph) checkEdge(e int) {
	if e < 0 || e >= len(g.head)/2 {
		panic(fmt.Sprintf("flow: edge %d out of range [0, %d)", e, len(g.head)/2))
	}
}

// Flow is the flow on edge e. It panics if e is not an edge ID.
func (g *Graph) Flow(e int) int64 {
	g.checkEdge(e)
	return g.residual[2*e+1]
}

// Capacity is the capacity of edge e. It panics if e is not an edge ID.
func (g *Graph) Capacity(e int) int64 {
	g.checkEdge(e)
	return g.residual[2*e] + g.residual[2*e+1]
}

// SetCapacity changes the capacity of edge e, keeping its flow, which must
// fit. It panics if e is not an edge ID.
func (g *Graph) SetCapacity(e int, capacity int64) error {
	g.checkEdge(e)
	if f := g.residual[2*e+1]; capacity < f {
		return fmt.Errorf("set capacity of edge %d to %d under its flow %d: %w", e, capacity, f, ErrCapacity)
	}
	g.residual[2*e] = capacity - g.residual[2*e+1]
	g.hasCut = false
	return nil
}

// SetFlow puts flow f on edge e, 0 <= f <= capacity. MaxFlow checks that
// what was set is conserved at every node but the source and sink. It
// panics if e is not an edge ID.
func (g *Graph) SetFlow(e int, f int64) error {
	g.checkEdge(e)
	c := g.residual[2*e] + g.residual[2*e+1]
	if f < 0 || f > c {
		return fmt.Errorf("set flow of edge %d to %d with capacity %d: %w", e, f, c, ErrFlow)
	}
	g.residual[2*e], g.residual[2*e+1] = c-f, f
	g.hasCut = false
	return nil
}

// ClearFlow removes the flow from every edge.
func (g *Graph) ClearFlow() {
	for a := 0; a < len(g.residual); a += 2 {
		g.residual[a] += g.residual[a+1]
		g.residual[a+1] = 0
	}
	g.hasCut = false
}

// MaxFlow augments the current flow to a maximum s-t flow and returns its
// value. Afterwards Flow gives each edge's share and SourceSide a minimum
// cut.
func (g *Graph) MaxFlow(s, t int) (int64, error) {
	if err := g.checkNode(s); err != nil {
		return 0, fmt.Errorf("max flow: source: %w", err)
	}
	if err := g.checkNode(t); err != nil {
		return 0, fmt.Errorf("max flow: sink: %w", err)
	}
	if s == t {
		return 0, fmt.Errorf("max flow from node %d: %w", s, ErrSourceIsSink)
	}
	if g.stale {
		g.index()
	}
	value, err := g.outflow(s, t)
	if err != nil {
		return 0, fmt.Errorf("max flow: %w", err)
	}
	src, snk := int32(s), int32(t)
	for g.search(src, snk) {
		bottleneck := int64(math.MaxInt64)
		for v := snk; v != src; v = g.head[g.via[v]^1] {
			bottleneck = min(bottleneck, g.residual[g.via[v]])
		}
		for v := snk; v != src; v = g.head[g.via[v]^1] {
			a := g.via[v]
			g.residual[a] -= bottleneck
			g.residual[a^1] += bottleneck
		}
		if value > math.MaxInt64-bottleneck {
			return 0, fmt.Errorf("max flow: %w", ErrOverflow)
		}
		value += bottleneck
	}
	g.hasCut = true
	return value, nil
}

// SourceSide reports whether v is on the source side of the minimum cut
// the last MaxFlow found: reachable from the source through arcs with
// capacity left. It panics if the graph changed since, or v is no node.
func (g *Graph) SourceSide(v int) bool {
	if !g.hasCut {
		panic("flow: SourceSide called without a MaxFlow since the last change")
	}
	if g.checkNode(v) != nil {
		panic(fmt.Sprintf("flow: node %d out of range [0, %d)", v, g.n))
	}
	return g.via[v] != -1
}

// index builds the compressed adjacency lists.
func (g *Graph) index() {
	g.first = make([]int32, g.n+1)
	for a := range g.head {
		g.first[g.head[a^1]+1]++ // arc a leaves the node its partner enters
	}
	for v := range g.n {
		g.first[v+1] += g.first[v]
	}
	g.arcs = make([]int32, len(g.head))
	next := append([]int32(nil), g.first[:g.n]...)
	for a := range g.head {
		from := g.head[a^1]
		g.arcs[next[from]] = int32(a)
		next[from]++
	}
	g.via = make([]int32, g.n)
	g.queue = make([]int32, 0, g.n)
	g.stale = false
}

// outflow is the net flow out of s of the flow already on the edges, after
// checking that it is conserved everywhere else.
func (g *Graph) outflow(s, t int) (int64, error) {
	excess := make([]int64, g.n)
	for e := 0; 2*e < len(g.head); e++ {
		f := g.residual[2*e+1]
		if f == 0 {
			continue
		}
		from, to := g.head[2*e+1], g.head[2*e]
		if excess[to] > math.MaxInt64-f || excess[from] < math.MinInt64+f {
			return 0, ErrOverflow
		}
		excess[to] += f
		excess[from] -= f
	}
	for v, x := range excess {
		if x != 0 && v != s && v != t {
			return 0, fmt.Errorf("%d more in than out at node %d: %w", x, v, ErrFlow)
		}
	}
	if excess[s] == math.MinInt64 {
		return 0, ErrOverflow
	}
	return -excess[s], nil
}

// search runs a breadth-first search from s over arcs with capacity left
// and reports whether it reached t; via then holds the path back.
func (g *Graph) search(s, t int32) bool {
	for i := range g.via {
		g.via[i] = -1
	}
	g.via[s] = -2 // reached, by no arc
	q := append(g.queue[:0], s)
	for i := 0; i < len(q); i++ {
		u := q[i]
		for _, a := range g.arcs[g.first[u]:g.first[u+1]] {
			v := g.head[a]
			if g.residual[a] > 0 && g.via[v] == -1 {
				g.via[v] = a
				if v == t {
					g.queue = q
					return true
				}
				q = append(q, v)
			}
		}
	}
	g.queue = q
	return false
}
