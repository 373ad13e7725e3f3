// Command peerflow is the Peerflow peer-to-peer content delivery app.
//
// With no arguments it opens the desktop window; with a subcommand it is the
// terminal front end (see `peerflow help`). The terminal commands never
// start a GUI driver, so they run on machines without a display.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"peerflow/app/cli"
	"peerflow/app/gui"
	"peerflow/assets"
	"peerflow/core"
)

func main() {
	if len(os.Args) < 2 {
		runDesktop()
		return
	}
	// The first Ctrl-C (or SIGTERM) asks for a clean stop; once it is seen
	// the handler is removed, so a second one kills at once.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	os.Exit(cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func runDesktop() {
	app.SetMetadata(fyne.AppMetadata{
		ID:      core.AppID,
		Name:    "Peerflow",
		Version: core.Version,
		Icon:    assets.Icon,
	})
	a := app.NewWithID(core.AppID)
	a.SetIcon(assets.Icon)
	gui.New(a).Window().ShowAndRun()
}
