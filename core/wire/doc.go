// Package wire is the peer protocol: length-prefixed binary frames over
// TLS 1.3 over TCP.
//
// Both sides of a connection present a self-signed certificate over
// their identity key (tls.go), and each learns the other's peer ID from
// the key that the handshake proved, never from what it is told: a
// dialer names the ID it expects (the one a tracker listed) and drops a
// peer that proves another; the answering side refuses a Hello whose
// peer ID is not the proven one (ReasonWrongID).
//
// Every frame is a 4-byte big-endian length, then a type byte, then the
// payload; the length counts the type byte and the payload. A connection
// carries one content. It opens with a Hello each way (magic, protocol
// version, peer ID, content ID, listen port, and for a private swarm the
// proof that the sender knows its key), then bitfields, then any mix
// of Have, Request, Data, Cancel, Reject and KeepAlive in both directions:
// each side may fetch chunks from the other.
//
// Every length is checked against a bound before anything is allocated:
// before the handshake only a Hello fits; after it, SetLimits gives the
// content's chunk count and size, which bound bitfields, indices, requests
// and data frames. Data payloads are read into a buffer the caller reuses,
// so the data path does not allocate per frame.
package wire
