// Package sched makes every scheduling decision of a node in a swarm: as
// a downloader, which chunk to ask of which peer and when (Download); as
// a seeder of a complete share, what to offer to whom (Seeder); as an
// uploader, which request to serve next and which to refuse (Uploads).
// It has no sockets, no disk and no clock: every call says what time it is, peers
// are named by ID, and the caller puts the decisions on the wire. The
// transfer engine drives it with real connections; package sim drives the
// same code in virtual time.
//
// # The goal
//
// One sharer with upload u_s and N downloaders with uploads u_i cannot
// all finish before T* = max(F/u_s, F/d_min, N*F/(u_s + sum u_i)) (Kumar
// and Ross), and the bound is met when the sharer sends each chunk to one
// downloader only and that one passes it on to the others while it
// downloads. A downloader that plans alone treats the sharer's whole
// upload as its own: every downloader asks the sharer for chunks, the
// sharer sends the same chunks to several of them, and its copies (bytes
// sent / F) grow with N. Time follows copies*F/u_s.
//
// # Super-seeding, in pull form
//
// The cure is on the sharer's side and needs nothing new on the wire: a
// peer can only ask for chunks it was told of, so the sharer decides what
// each downloader may ask by what it advertises (BEP 16 does the same).
// Seeder keeps, per chunk, how many connected peers hold it and to which
// downloader it was handed, and per downloader a window of handouts:
//
//   - A newcomer's first bitfield, and later haves, offer it chunks no
//     connected peer holds and nobody was handed: a different share each,
//     taken along a walk over the chunks seeded by the sharer's ID (two
//     sharers of one content start elsewhere).
//   - A handout counts against its downloader's window until it spread:
//     two peers hold it, or one does and no connected downloader lacks it.
//     Each downloader is therefore fed as fast as it passes chunks on, not
//     as fast as it can take them in, so a downloader that uploads slowly
//     holds few of the chunks the others wait for. A lone downloader frees
//     a place with every chunk it gets and runs at the sharer's full rate;
//     its window follows its rate up at once, so that over a long round
//     trip the window does not hold back the pipeline that fills it.
//   - The window is half a second of the downloader's spread rate (its
//     handouts that reached a second peer, per second), at least 2
//     chunks: enough for a handout's trip there and on.
//   - A downloader that leaves gives its handouts back, and chunks only it
//     held become rare again.
//   - When the sharer's upload idles with chunks still to hand out and a
//     window is full, the windows double (up to 16 times). When it idles
//     with everything handed out, each handout that has not spread is
//     offered to one more downloader (once): the last chunks then do not
//     wait on a slow first downloader. A downloader that got nothing for
//     WidenAfter (2 s) while the upload idled is offered every chunk: one
//     that cannot reach the others is then served directly. (At the end
//     of a swarm of hundreds the last chunks take over a second to reach
//     everyone; a shorter wait served them from the sharer again.)
//   - Chunks that another seeder connected to the sharer holds are never
//     rare, so a sharer backs off once a full copy is in the swarm.
//
// # Uploads: rarest first, and little waiting
//
// Every node's upload, the sharer's and each downloader's, takes its
// peers' requests through Uploads. It serves first the request whose
// chunk the fewest connected peers hold: a new chunk's first holder then
// passes it on before older, common chunks, and each copy is one more
// peer to fetch it from, so it spreads as a tree, not as a star from its
// first holder. And no more than about a second of work waits (at least
// MinWaiting requests): a request beyond that is refused as busy, and
// its downloader asks another holder, or the same one after a backoff.
// Until the upload's rate is measured, a downloader that is the only one
// asking is bounded by MaxWaitingPerPeer alone: a fast link's first
// chunks go into the socket in microseconds, and refusing a far
// downloader that fills its pipeline stalled it for the backoff.
// Without the bound each uploader of a large swarm had tens of requests
// queued, and a chunk waited that long at every hop. The engine serves
// two requests of a content at once (the simulator one): the upload rate
// is shared by what is served at once, and a rare chunk should not share
// it with seven common ones.
//
// Downloaders do their part: each plans with its own peer ID as the
// tie-break seed (package flow), a have from an idle peer is asked for at
// once, without waiting for a replan (that is how a new chunk hops on
// through the swarm), and every verified chunk is announced to every
// connected peer at once. Since the sharer offers each downloader chunks
// nobody else holds, a downloader gets a chunk from the sharer only when
// no other peer has it: it prefers other downloaders without knowing
// which peer is the sharer.
//
// # The download scheduler
//
// Download holds the missing chunks, each peer's chunk set and pipeline,
// and the origin server's (HTTP range requests) share. Its plan is the
// flow planner's least-makespan assignment (package flow), redone on
// joins, leaves, bitfields, refusals and haves of chunks no plan covers
// (at least MinReplanGap apart, MinUrgentGap while a peer that holds a
// chunk nobody is asked for sits idle), on rate drift beyond 35%, and
// when such a peer's queue runs dry. A busy refusal replans only when
// another peer holds the chunk; else the chunk waits at the head of the
// refusing peer's queue for the backoff. A peer keeps its depth of requests in flight
// (DefaultDepth, more when twice its rate times round trip asks for it,
// so that the pipeline of a peer far away outgrows the rate it
// measured), and a have from a peer with room in its pipeline is asked
// for at once. A peer
// silent for several times what its requests should take is stalled: its
// requests are withdrawn and it sits out the plans for a while; a peer
// left without work is measured afresh after 30 s. The endgame asks idle
// holders for chunks already in flight (at most two extra copies, the
// loser cancelled), but only once every missing chunk is in flight: while
// a chunk is held by nobody yet, duplicates would only spend other peers'
// uploads. The origin server, which the swarm exists to spare, gets only
// what no usable peer holds, and a reader's chunks (Urgent) that no peer
// is expected to deliver before the reader needs them.
//
// # Deadlines
//
// A reader (the HTTP gateway's, for a player) gives the chunks it waits
// for and its read-ahead to Urgent with when each is due, at its read
// rate. A chunk keeps its deadline until it is verified or its reader is
// forgotten (it closed, or read elsewhere), and every Schedule looks at
// each one again: one not in flight goes to a source that delivers it in
// time; one in flight is asked of a second source when its fetch will
// not arrive in time, or took over twice what it should, or sits at a
// super-seeding sharer that never advertised it while another peer now
// does (such a request waits behind rarer chunks there); and the origin
// server gets a chunk only when it is due within a second and no peer
// makes it. In a streaming swarm of 1 sharer and 4 players, rescuing on
// reader wakes alone left single chunks stuck at the sharer for up to 3 s.
package sched
