package flow

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

type edge struct {
	from, to int
	cap      int64
}

func buildGraph(t *testing.T, n int, edges []edge) *Graph {
	t.Helper()
	g := NewGraph(n)
	for i, e := range edges {
		id, err := g.AddEdge(e.from, e.to, e.cap)
		if err != nil || id != i {
			t.Fatalf("AddEdge(%v) = %d, %v", e, id, err)
		}
	}
	return g
}

// checkMaxFlow verifies that the flow is feasible, has the value returned,
// and is maximum: the cut SourceSide reports has the same capacity.
func checkMaxFlow(t *testing.T, g *Graph, edges []edge, s, tt int, value int64) {
	t.Helper()
	net := make([]int64, g.Nodes())
	var cut int64
	for i, e := range edges {
		f := g.Flow(i)
		if f < 0 || f > e.cap || g.Capacity(i) != e.cap {
			t.Fatalf("edge %d %v: flow %d, capacity %d", i, e, f, g.Capacity(i))
		}
		net[e.from] -= f
		net[e.to] += f
		if g.SourceSide(e.from) && !g.SourceSide(e.to) {
			cut += e.cap
		}
	}
	for v, x := range net {
		if v != s && v != tt && x != 0 {
			t.Fatalf("node %d: %d more in than out", v, x)
		}
	}
	if -net[s] != value || net[tt] != value {
		t.Fatalf("value %d, out of source %d, into sink %d", value, -net[s], net[tt])
	}
	if !g.SourceSide(s) || g.SourceSide(tt) {
		t.Fatal("cut does not separate source and sink")
	}
	if cut != value {
		t.Fatalf("cut capacity %d != flow %d: not a maximum", cut, value)
	}
}

func TestMaxFlowTextbook(t *testing.T) {
	tests := []struct {
		name  string
		n     int
		edges []edge
		s, t  int
		want  int64
	}{
		{"CLRS figure 26.1", 6, []edge{
			{0, 1, 16}, {0, 2, 13}, {1, 3, 12}, {2, 1, 4}, {2, 4, 14},
			{3, 2, 9}, {3, 5, 20}, {4, 3, 7}, {4, 5, 4},
		}, 0, 5, 23},
		{"Wikipedia Edmonds-Karp example", 7, []edge{
			{0, 1, 3}, {0, 3, 3}, {1, 2, 4}, {2, 0, 3}, {2, 3, 1}, {2, 4, 2},
			{3, 4, 2}, {3, 5, 6}, {4, 1, 1}, {4, 6, 1}, {5, 6, 9},
		}, 0, 6, 5},
		// Matching: the first shortest path, s-L1-R1-t, blocks L2; only the
		// reverse arc R1->L1 lets the second path move L1 over to R2.
		{"needs a reverse edge", 6, []edge{
			{0, 1, 1}, {0, 2, 1}, {1, 3, 1}, {1, 4, 1}, {2, 3, 1}, {3, 5, 1}, {4, 5, 1},
		}, 0, 5, 2},
		// A greedy depth-first search takes s-a-b-t and must undo a-b.
		{"diamond with a cross edge", 4, []edge{
			{0, 1, 1}, {0, 2, 1}, {1, 2, 1}, {1, 3, 1}, {2, 3, 1},
		}, 0, 3, 2},
		{"parallel edges", 2, []edge{{0, 1, 3}, {0, 1, 4}, {1, 0, 9}}, 0, 1, 7},
		{"zero capacities", 3, []edge{{0, 1, 0}, {1, 2, 5}, {0, 2, 0}}, 0, 2, 0},
		{"unreachable sink", 4, []edge{{0, 1, 5}, {1, 0, 5}, {3, 2, 1}}, 0, 3, 0},
		{"no edges", 2, nil, 1, 0, 0},
		{"sink before source", 3, []edge{{2, 1, 4}, {1, 0, 3}}, 2, 0, 3},
		{"self loop", 2, []edge{{0, 0, 5}, {0, 1, 2}}, 0, 1, 2},
		{"huge capacities", 3, []edge{{0, 1, math.MaxInt64}, {1, 2, math.MaxInt64}}, 0, 2, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := buildGraph(t, tt.n, tt.edges)
			got, err := g.MaxFlow(tt.s, tt.t)
			if err != nil || got != tt.want {
				t.Fatalf("MaxFlow = %d, %v; want %d", got, err, tt.want)
			}
			checkMaxFlow(t, g, tt.edges, tt.s, tt.t, got)
			// A second call finds nothing more to augment.
			if again, err := g.MaxFlow(tt.s, tt.t); again != got || err != nil {
				t.Fatalf("second MaxFlow = %d, %v", again, err)
			}
		})
	}
}

func TestGraphErrors(t *testing.T) {
	g := buildGraph(t, 3, []edge{{0, 1, 2}, {1, 2, 2}})
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"source is sink", second(g.MaxFlow(1, 1)), ErrSourceIsSink},
		{"unknown source", second(g.MaxFlow(-1, 2)), ErrNode},
		{"unknown sink", second(g.MaxFlow(0, 3)), ErrNode},
		{"edge from unknown node", second(g.AddEdge(3, 0, 1)), ErrNode},
		{"edge to unknown node", second(g.AddEdge(0, -1, 1)), ErrNode},
		{"negative capacity", second(g.AddEdge(0, 1, -1)), ErrCapacity},
		{"flow above capacity", g.SetFlow(0, 3), ErrFlow},
		{"negative flow", g.SetFlow(0, -1), ErrFlow},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if g.Edges() != 2 {
		t.Fatalf("failed AddEdge calls added edges: %d", g.Edges())
	}

	if err := g.SetFlow(0, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := g.MaxFlow(0, 2); !errors.Is(err, ErrFlow) {
		t.Errorf("MaxFlow with flow stuck at node 1: err = %v, want ErrFlow", err)
	}
	if err := g.SetCapacity(0, 1); !errors.Is(err, ErrCapacity) {
		t.Errorf("SetCapacity under the flow: err = %v, want ErrCapacity", err)
	}

	big := buildGraph(t, 2, []edge{{0, 1, math.MaxInt64}, {0, 1, 1}})
	if _, err := big.MaxFlow(0, 1); !errors.Is(err, ErrOverflow) {
		t.Errorf("flow of 2^63: err = %v, want ErrOverflow", err)
	}
}

func second[T any](_ T, err error) error { return err }

// TestMaxFlowRandom checks feasibility and optimality (flow value = cut
// capacity) on random graphs, cold and warm-started from a smaller flow.
func TestMaxFlowRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	for round := range 500 {
		n := 2 + r.IntN(10)
		edges := make([]edge, r.IntN(40))
		for i := range edges {
			edges[i] = edge{r.IntN(n), r.IntN(n), int64(r.IntN(20))}
		}
		s, tt := r.IntN(n), r.IntN(n)
		if s == tt {
			tt = (s + 1) % n
		}
		cold := buildGraph(t, n, edges)
		want, err := cold.MaxFlow(s, tt)
		if err != nil {
			t.Fatal(err)
		}
		checkMaxFlow(t, cold, edges, s, tt, want)

		// Any feasible flow is a valid start: take the max flow of the
		// same graph with capacities halved.
		halved := make([]edge, len(edges))
		for i, e := range edges {
			halved[i] = edge{e.from, e.to, e.cap / 2}
		}
		half := buildGraph(t, n, halved)
		if _, err := half.MaxFlow(s, tt); err != nil {
			t.Fatal(err)
		}
		warm := buildGraph(t, n, edges)
		for i := range edges {
			if err := warm.SetFlow(i, half.Flow(i)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := warm.MaxFlow(s, tt)
		if err != nil || got != want {
			t.Fatalf("round %d: warm MaxFlow = %d, %v; cold %d", round, got, err, want)
		}
		checkMaxFlow(t, warm, edges, s, tt, got)
	}
}

// TestMaxFlowRaisedCapacity checks that MaxFlow resumes after capacities
// grow, as the planner does when it tries a longer makespan.
func TestMaxFlowRaisedCapacity(t *testing.T) {
	edges := []edge{{0, 1, 5}, {1, 2, 1}, {0, 2, 1}}
	g := buildGraph(t, 3, edges)
	if v, err := g.MaxFlow(0, 2); v != 2 || err != nil {
		t.Fatalf("MaxFlow = %d, %v; want 2", v, err)
	}
	if g.SourceSide(2) || !g.SourceSide(1) {
		t.Fatal("cut should separate {0,1} from {2}")
	}
	if err := g.SetCapacity(1, 4); err != nil {
		t.Fatal(err)
	}
	edges[1].cap = 4
	v, err := g.MaxFlow(0, 2)
	if v != 5 || err != nil {
		t.Fatalf("MaxFlow after raising = %d, %v; want 5", v, err)
	}
	checkMaxFlow(t, g, edges, 0, 2, v)
	g.ClearFlow()
	if g.Flow(0) != 0 || g.Flow(1) != 0 || g.Capacity(1) != 4 {
		t.Fatal("ClearFlow left flow or changed capacity")
	}
}
