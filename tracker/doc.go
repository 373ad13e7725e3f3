// Package tracker is the Peerflow tracker: it keeps, per content, which
// chunks each live peer holds, and answers peers over HTTP + JSON.
package tracker
