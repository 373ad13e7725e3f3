// Package flow plans which chunk to fetch from which peer. It is pure Go:
// no I/O, no network, no clocks.
package flow
