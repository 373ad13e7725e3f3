// Package discover finds Peerflow trackers on the local network over mDNS
// (DNS-SD service _peerflow._tcp). Trackers advertise themselves (package
// tracker); nodes browse and learn of trackers as they appear and vanish.
//
// Multicast leaves the machine: tests that browse or advertise run only
// inside an isolated network namespace (see .ci/netns) and skip elsewhere.
package discover
