package core

// Version is the release of this build. FyneApp.toml carries the same
// number for packaging; a test in package main keeps the two equal.
const Version = "0.1.0"

// AppID is the reverse-DNS application identifier, used by the desktop app
// for its preferences and by `fyne package`.
const AppID = "io.peerflow.app"
