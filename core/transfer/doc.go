// Package transfer moves chunks between peers: the Engine accepts and dials
// peer connections, serves the chunks this node holds (uploads, with slots
// and a rate limit), and runs downloads that fetch each chunk from the peer
// the flow planner picked, verify it, and write it to the store.
//
// One connection carries one content between two peers, and both may fetch
// from each other on it, so a node seeds what it has verified while it is
// still downloading. Per connection there is a reader goroutine (it also
// verifies and writes received chunks, so hashing spreads over the cores
// one connection each), an uploader goroutine, and a control writer for
// have and keep-alive frames; all three end when the connection closes.
package transfer
