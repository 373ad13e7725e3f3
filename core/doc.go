// Package core is the Peerflow peer node. Node is the one facade both front
// ends (app/gui and app/cli) use; they never touch sockets or the database.
package core
